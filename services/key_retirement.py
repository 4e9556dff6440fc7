"""Retiring a master key, serialized in the database with whatever wraps a new key under it.

`welfare keys retire` erases a master key's secret once nothing depends on it. Its check of the
dependents and a request wrapping a fresh data key under the same master key (a node whose
keyring had not yet picked up the rotation) must not interleave: the request would commit a data
key under a key whose secret is about to be erased, and that resident's sealed values could
never be read again. So the retirement is written to the database (a `system_markers` row) in
the transaction that checks the dependents, and every wrap of a new key checks, in its own
transaction, that its master key is not marked retired:

- PostgreSQL: the retirement holds an exclusive transaction advisory lock, each wrap the shared
  one, so a retirement waits for the wraps already under way (and then sees their data keys and
  refuses), and a wrap that starts later waits for the retirement to commit (and then sees the
  mark).
- SQLite: every transaction takes the write lock when it begins (BEGIN IMMEDIATE), which
  serializes both the same way.

A wrap that finds its master key retired takes the keyring file's newer keyring (the rotation
the node had not picked up yet) and wraps under its active key; with none newer it fails closed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from welfare.crypto.keyring import Keyring
from welfare.database import fresher_keyring, session_keyring
from welfare.errors import DomainError
from welfare.models import SystemMarker

PREFIX = "retired_master_key:"
# pg_advisory_xact_lock's key for key retirement (an arbitrary constant, unused elsewhere).
LOCK_KEY = 7_310_482_615
_CHECKED = "welfare.key_retirement.checked"  # session.info: (transaction, key ids checked)


class KeyringStale(DomainError):
    """This node's active master key was retired and no newer keyring is at hand."""

    status = 503
    code = "keyring_stale"
    title = (
        "키링이 교체되는 중입니다. 잠시 후 다시 시도하세요 (the keyring is being rotated; retry)"
    )


def mark_retired(session: Session, key_id: str, now: datetime) -> None:
    """Mark `key_id` retired in this transaction, after every wrap under way has committed;
    the caller then checks the dependents and commits (or rolls the mark back)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    if session.get(SystemMarker, PREFIX + key_id) is None:
        session.add(SystemMarker(key=PREFIX + key_id, value="", set_at=now))
        session.flush()


def wrapping_keyring(session: Session) -> Keyring:
    """The keyring to wrap a new key with in this transaction: the session's, unless its active
    master key has been retired meanwhile (then the newer keyring from the file)."""
    keyring = session_keyring(session)
    key_id = keyring.active.id
    # Begin the transaction first: before that get_transaction() is None, and None would match
    # a later transaction's None too. The innermost one: a savepoint rolled back releases the
    # advisory lock taken in it (PostgreSQL), so a check made there holds no longer.
    session.connection()
    transaction = session.get_nested_transaction() or session.get_transaction()
    checked: tuple[Any, set[str]] | None = session.info.get(_CHECKED)
    if checked is not None and checked[0] is transaction and key_id in checked[1]:
        return keyring
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock_shared(LOCK_KEY)))
    if _is_retired(session, key_id):
        fresh = fresher_keyring(session)
        if fresh is None or _is_retired(session, fresh.active.id):
            raise KeyringStale
        keyring, key_id = fresh, fresh.active.id
    if checked is None or checked[0] is not transaction:
        checked = (transaction, set[str]())
        session.info[_CHECKED] = checked
    checked[1].add(key_id)
    return keyring


def check_wrapped_under(session: Session, key_ids: set[str]) -> None:
    """Before inserting data keys wrapped elsewhere (an import's worker processes, with the
    keyring they forked with): refuse them if one of their master keys was retired since."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock_shared(LOCK_KEY)))
    if any(_is_retired(session, key_id) for key_id in sorted(key_ids)):
        raise KeyringStale


def _is_retired(session: Session, key_id: str) -> bool:
    found = session.execute(
        text("SELECT 1 FROM system_markers WHERE key = :key"), {"key": PREFIX + key_id}
    ).first()
    return found is not None
