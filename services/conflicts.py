"""Unique constraints as conflicts: a race lost between a check and an insert answers 409,
exactly as the check would have, and leaves nothing half-written."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from welfare.errors import DomainError


def flush_or_conflict(session: Session, conflict: Callable[[], DomainError | None]) -> None:
    """Flush; when a unique constraint fires, roll back and raise `conflict()`.

    The checks before an insert cannot see a concurrent transaction's row, so the constraint is
    the guarantee and this is its error message. `conflict` runs after the rollback (it may
    query to name the winner, or run the same check that raises) and returns None when the
    violation was not the one it explains: then the original error propagates (a bug, not a
    race), as a generic 500.
    """
    try:
        session.flush()
    except IntegrityError as exc:
        failure = exc
    else:
        return
    session.rollback()
    explained = conflict()
    if explained is None:
        raise failure
    raise explained
