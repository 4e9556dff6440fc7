"""What a program declares so the tick raises and cancels its follow-ups: a `FollowUpRule`.

A rule names the rows that need a follow-up now (`due`), the model whose rows the tick locks
while raising (so it serializes with the program's own writes: a contact logged or a request
answered while the tick waits is seen when PostgreSQL re-checks the row, and that subject drops
out), how one row becomes a `Raise`, and which live follow-ups have lost their cause
(`cleared`), each with the reason it is cancelled. Rules are level-triggered: running one twice
at the same `as_of` changes nothing the second time (the live-follow-up index makes a second
raise a no-op).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from services import followups
from services.followups import Raise
from welfare.calendar import BusinessCalendar
from welfare.models.bulk import json_serializer

BATCH = 2000


@dataclass(frozen=True, slots=True)
class StoredRows:
    """A rule's due rows as SQLite stores them, made into follow-ups without building a Python
    object per value (a tick may raise thousands; turning each row's ids and times into UUIDs
    and datetimes and back into the same text cost more than the database spent). `due` selects
    what the rule's own `due` selects, its columns read as stored (text); `make` gives what
    `Raises.of` would of the rule's `make` on those rows read as objects (tested so)."""

    due: Callable[[datetime], Select[Any]]
    make: Callable[[Sequence[Any], datetime, Callable[[Any], str]], followups.Raises]


@dataclass(frozen=True, slots=True)
class Candidates:
    """What may need work this tick: a superset, each part checked again by the rule's own
    conditions before anything is written."""

    due: Sequence[uuid.UUID]  # ids of `lock` rows that may be due, in the order `due` raises
    cleared: Sequence[uuid.UUID]  # subjects whose live follow-up may have lost its cause


@dataclass(frozen=True, slots=True)
class Reconcile:
    """A rule's level-triggered check as one comparison of two sets (PostgreSQL).

    `candidates` reads, in one statement, every row the rule could raise for and every live
    follow-up of its reason, and keeps the mismatches: rows due with no live follow-up, live
    follow-ups with no row due (or whose subject left). It must give a superset of what `due`
    and `cleared` would find (tested so), and be planned as hash or merge joins (a FULL JOIN
    cannot be a nested loop), so an idle tick costs two index-only reads, not an index probe per
    live lapse. `why_cleared` then reads the cleared candidates again in full, and `due` selects
    the due candidates by id (up to `BATCH` of them; beyond, `due` is run whole, once), locked,
    with all its conditions."""

    candidates: Callable[[Session, datetime], Candidates]
    why_cleared: Callable[[Session, Sequence[uuid.UUID], datetime], Sequence[tuple[uuid.UUID, str]]]


@dataclass(frozen=True, slots=True)
class FollowUpRule:
    """One reason a program raises follow-ups, as data the tick runs."""

    reason: str
    # rows needing a follow-up at as_of, none live yet: an entity or the columns `make` reads
    due: Callable[[datetime], Select[Any]]
    lock: type[Any]  # the model `due` selects, locked FOR UPDATE on PostgreSQL
    make: Callable[[Any, datetime], Raise]  # one due row -> the follow-up it needs
    cleared: Callable[[Session, datetime], Sequence[tuple[uuid.UUID, str]]]  # (subject, why)
    raised_count: str  # the names the tick's counts use (kept stable for operators' dashboards)
    cancelled_count: str
    stored: StoredRows | None = None  # SQLite's way to `due` and `make`, when the rule has one
    reconcile: Reconcile | None = None  # PostgreSQL's way to find the work, when the rule has one


def run_rule(
    session: Session,
    rule: FollowUpRule,
    *,
    as_of: datetime,
    calendar: BusinessCalendar,
    run_id: uuid.UUID | None,
) -> dict[str, int]:
    """Cancel what `rule` finds cleared, then raise what it finds due; counts by the rule's
    names. The two sets are disjoint (a cleared follow-up's cause is gone, so its subject is not
    due), so the order changes nothing but the work: cancelling first, the cleared check does
    not re-examine the follow-ups this run has just raised (their cause is what raised them)."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql" and rule.reconcile is not None:
        return _run_reconciled(
            session, rule, rule.reconcile, as_of=as_of, calendar=calendar, run_id=run_id
        )
    cancelled = _cancel(session, rule, rule.cleared(session, as_of), as_of=as_of, run_id=run_id)
    raised = 0
    if dialect.name == "sqlite" and rule.stored is not None:
        # SQLite serializes writers (BEGIN IMMEDIATE): no row lock to take.
        serialize = json_serializer(dialect)
        rows = session.execute(rule.stored.due(as_of).execution_options(yield_per=BATCH))
        for chunk in rows.partitions():
            raised += followups.raise_columns(
                session,
                rule.stored.make(chunk, as_of, serialize),
                as_of=as_of,
                run_id=run_id,
                calendar=calendar,
            )
        return {rule.raised_count: raised, rule.cancelled_count: cancelled}
    stmt = rule.due(as_of)
    if dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=rule.lock)
    raised = _raise(session, rule, stmt, as_of=as_of, calendar=calendar, run_id=run_id)
    return {rule.raised_count: raised, rule.cancelled_count: cancelled}


def _run_reconciled(
    session: Session,
    rule: FollowUpRule,
    reconcile: Reconcile,
    *,
    as_of: datetime,
    calendar: BusinessCalendar,
    run_id: uuid.UUID | None,
) -> dict[str, int]:
    """`run_rule` through the rule's `Reconcile`: nothing more is read when nothing is amiss."""
    found = reconcile.candidates(session, as_of)
    cancelled = 0
    if found.cleared:
        why = reconcile.why_cleared(session, found.cleared, as_of)
        cancelled = _cancel(session, rule, why, as_of=as_of, run_id=run_id)
    raised = 0
    if len(found.due) > BATCH:
        # More than a page (a mass lapse): one pass of `due` itself. By pages of ids, each page
        # may be planned as a read of every due row filtered by the ids (a scan of the due index
        # or of the table, the live-lapse probe run for each row before the id filter): pages
        # times due rows, a tick's cost growing with the square of the lapses.
        stmt = rule.due(as_of).with_for_update(of=rule.lock)
        raised = _raise(session, rule, stmt, as_of=as_of, calendar=calendar, run_id=run_id)
    elif found.due:
        stmt = rule.due(as_of).where(rule.lock.id.in_(found.due)).with_for_update(of=rule.lock)
        raised = _raise(session, rule, stmt, as_of=as_of, calendar=calendar, run_id=run_id)
    return {rule.raised_count: raised, rule.cancelled_count: cancelled}


def _cancel(
    session: Session,
    rule: FollowUpRule,
    found: Sequence[tuple[uuid.UUID, str]],
    *,
    as_of: datetime,
    run_id: uuid.UUID | None,
) -> int:
    cancelled = 0
    for subject_id, why in found:
        cancelled += followups.cancel_live(
            session, subject_id=subject_id, reason=rule.reason, why=why, now=as_of, run_id=run_id
        )
    return cancelled


def _raise(
    session: Session,
    rule: FollowUpRule,
    stmt: Select[Any],
    *,
    as_of: datetime,
    calendar: BusinessCalendar,
    run_id: uuid.UUID | None,
) -> int:
    result = session.execute(stmt.execution_options(yield_per=BATCH))
    # An entity (or one column) comes as objects; several columns as rows, which skip the
    # ORM's identity map and attribute instrumentation (a tick may read thousands).
    due = result.scalars() if len(stmt.column_descriptions) == 1 else result
    raised = 0
    for chunk in due.partitions():
        raised += followups.raise_many(
            session,
            [rule.make(row, as_of) for row in chunk],
            as_of=as_of,
            run_id=run_id,
            calendar=calendar,
        )
    return raised
