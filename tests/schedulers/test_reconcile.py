"""PostgreSQL's way to find the tick's work (`FollowUpRule.reconcile`): one comparison of the due
enrollments with the live lapses gives exactly what the rule's own queries find, whatever state
each resident is in, and an idle tick reads nothing more."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, event, select, update

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.rules import base
from schedulers.rules import ongi as ongi_rule
from schedulers.runner import run_job
from services import ongi, residents
from tests.support.casework import with_check_digit
from tests.support.live import seed_lapsed
from tests.support.staff import GASAN, make_staff
from welfare.database import Database
from welfare.models import FollowUp, OngiEnrollment, Resident

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
LAPSED_AT = T0 + timedelta(hours=25)  # a high-risk enrollment from T0 is due by then
TICK = Job("followups", run_followups)

# Each resident's state when the tick looks: the enrollment, whether a lapse is live, and
# whether the resident is still active. Every combination is made, one resident each.
ENROLLMENTS = ("due", "not_due", "paused", "ended", "none")
RESIDENT_STATES = ("active", "moved_out", "deceased")


def full_join_supported(db: Database) -> bool:
    return db.dialect == "postgresql" or sqlite3.sqlite_version_info >= (3, 39)


@pytest.fixture
def every_state(db: Database, app: Flask) -> dict[uuid.UUID, tuple[str, bool, str]]:
    """One resident for each (enrollment, live lapse, resident status), set by plain UPDATEs
    and DELETEs after a first tick raised a lapse for each of them."""
    if not full_join_supported(db):
        pytest.skip("SQLite before 3.39 has no FULL JOIN (the reconciled way is PostgreSQL's)")
    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    states: dict[uuid.UUID, tuple[str, bool, str]] = {}
    combos = itertools.product(ENROLLMENTS, (True, False), RESIDENT_STATES)
    with db.new_session() as s:
        for n, combo in enumerate(combos, start=1):
            view = residents.register_resident(
                s,
                actor=counselor,
                name=f"주민{n}",
                rrn=with_check_digit(f"40{n % 12 + 1:02d}{n % 28 + 1:02d}1{n:05d}"),
                dong=GASAN,
                now=T0,
            )
            ongi.enroll(
                s, actor=counselor, resident_id=view.id, risk_level="high", now=T0, enrolled_at=T0
            )
            states[view.id] = combo
    assert run_job(db, TICK, as_of=LAPSED_AT).status == "succeeded"
    with db.new_session() as s:
        for resident_id, (enrollment, lapse_live, status) in states.items():
            mine = update(OngiEnrollment).where(OngiEnrollment.resident_id == resident_id)
            if enrollment == "not_due":
                s.execute(mine.values(next_due_at=LAPSED_AT + timedelta(hours=1)))
            elif enrollment == "paused":
                s.execute(mine.values(status="paused", paused_at=LAPSED_AT))
            elif enrollment == "ended":
                s.execute(mine.values(status="ended", ended_at=LAPSED_AT))
            elif enrollment == "none":  # gone by hand (a repair): its lapse may still be live
                s.execute(delete(OngiEnrollment).where(OngiEnrollment.resident_id == resident_id))
            if not lapse_live:
                s.execute(
                    update(FollowUp)
                    .where(FollowUp.resident_id == resident_id)
                    .values(state="resolved", outcome="closed_by_hand")
                )
            if status != "active":
                s.execute(update(Resident).where(Resident.id == resident_id).values(status=status))
        s.commit()
    return states


def test_the_comparison_finds_exactly_what_the_rules_own_queries_find(
    db: Database, every_state: dict[uuid.UUID, tuple[str, bool, str]]
) -> None:
    at = LAPSED_AT + timedelta(minutes=1)
    with db.new_session() as s:
        found = ongi_rule.candidates(s, at)
        rule_due = [row.id for row in s.execute(ongi_rule.lapsed(at))]
        rule_cleared = sorted(ongi_rule.cleared(s, at))
        reconciled_cleared = sorted(ongi_rule.why_cleared(s, found.cleared, at))
        resident_of = dict(s.execute(select(OngiEnrollment.id, OngiEnrollment.resident_id)).all())
    # the same enrollments, in the rule's order (oldest due first)
    assert list(found.due) == rule_due
    assert reconciled_cleared == rule_cleared
    # and what that is, by state: due with no live lapse and the resident still here ...
    expected_due = {
        r for r, (e, lapse, st) in every_state.items() if (e, lapse, st) == ("due", False, "active")
    }
    assert {resident_of[e] for e in found.due} == expected_due
    # ... and every live lapse whose cause is gone, with why
    expected_cleared = {
        r
        for r, (enrollment, lapse, status) in every_state.items()
        if lapse and (enrollment != "due" or status != "active")
    }
    assert {subject for subject, _ in rule_cleared} == expected_cleared
    # nothing more is a candidate than what is checked again
    assert set(found.cleared) == expected_cleared


def test_a_tick_after_it_leaves_nothing_to_find(
    db: Database, every_state: dict[uuid.UUID, tuple[str, bool, str]]
) -> None:
    at = LAPSED_AT + timedelta(minutes=1)
    counts = run_job(db, TICK, as_of=at).counts
    assert counts["raised"] == 1
    assert counts["cancelled"] == sum(
        1 for e, lapse, st in every_state.values() if lapse and (e != "due" or st != "active")
    )
    with db.new_session() as s:
        found = ongi_rule.candidates(s, at)
    assert (list(found.due), list(found.cleared)) == ([], [])


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        sent.append(sql)

    with db.new_session() as session:  # the engine, or the test's connection sessions join
        bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(bind, "before_cursor_execute", seen)


def test_an_idle_tick_on_postgresql_compares_once_and_reads_nothing_more(
    db: Database, app: Flask
) -> None:
    """With every lapse raised, the next tick's Ongi rule sends one statement that reads the
    enrollments (the comparison: a FULL JOIN, which PostgreSQL can only run as a hash or merge
    join) and writes nothing."""
    if db.dialect != "postgresql":
        pytest.skip("the reconciled way is PostgreSQL's")
    seed_lapsed(db, 3, T0)
    assert run_job(db, TICK, as_of=LAPSED_AT).counts["raised"] == 3
    with statements(db) as sent:
        counts = run_job(db, TICK, as_of=LAPSED_AT + timedelta(minutes=1)).counts
    assert (counts["raised"], counts["cancelled"]) == (0, 0)
    reading = [sql for sql in sent if "ongi_enrollments" in sql]
    assert len(reading) == 1, reading
    assert "FULL OUTER JOIN" in reading[0]


def test_a_mass_lapse_on_postgresql_reads_the_due_rows_once_not_once_per_page(
    db: Database, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More lapses than a page: `due` runs once, whole. By pages of ids, PostgreSQL may plan each
    page as a read of every due row filtered by the ids (seen at 100,000 lapses: every page
    scanned all of them and probed the live lapses for each), so a tick would cost pages times
    lapses."""
    if db.dialect != "postgresql":
        pytest.skip("the reconciled way is PostgreSQL's")
    monkeypatch.setattr(base, "BATCH", 2)
    seed_lapsed(db, 5, T0)
    with statements(db) as sent:
        counts = run_job(db, TICK, as_of=LAPSED_AT).counts
    assert counts["raised"] == 5
    locking = [sql for sql in sent if "ongi_enrollments" in sql and "FOR UPDATE" in sql]
    assert len(locking) == 1, locking
