"""The follow-up tick: exactly once, level-triggered, serialized with contacts, re-arming."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text, update

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.rules import ongi as ongi_rule
from schedulers.runner import run_job
from services import followup_queue, ongi, residents
from tests.support.casework import with_check_digit
from tests.support.staff import DOKSAN1, GASAN, make_staff
from welfare.database import Database
from welfare.errors import InvalidInput
from welfare.models import FollowUp, FollowUpEvent, OngiEnrollment, OutboxMessage, Resident

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul
TICK = Job("followups", run_followups)


@pytest.fixture
def counselor(app: Flask) -> Any:
    return make_staff(app, "counselor", (GASAN,)).actor()


@pytest.fixture
def enrolled(db: Database, counselor: Any) -> Callable[..., uuid.UUID]:
    """Register and enroll a resident at T0 (or `at`); returns the resident id."""
    counter = iter(range(1, 10_000))

    def make(risk: str = "high", at: datetime = T0) -> uuid.UUID:
        n = next(counter)
        with db.new_session() as s:
            view = residents.register_resident(
                s,
                actor=counselor,
                name=f"주민{n}",
                rrn=with_check_digit(f"40{n % 12 + 1:02d}{n % 28 + 1:02d}1{n:05d}"),
                dong=GASAN,
                now=at,
            )
            ongi.enroll(
                s, actor=counselor, resident_id=view.id, risk_level=risk, now=at, enrolled_at=at
            )
            return view.id

    return make


def tick(db: Database, at: datetime) -> dict[str, Any]:
    result = run_job(db, TICK, as_of=at)
    assert result.status == "succeeded", result
    return result.counts


def live(db: Database, resident_id: uuid.UUID | None = None) -> list[FollowUp]:
    with db.new_session() as s:
        stmt = select(FollowUp).where(FollowUp.state.in_(("open", "escalated")))
        if resident_id:
            stmt = stmt.where(FollowUp.resident_id == resident_id)
        return list(s.scalars(stmt))


def contact(
    db: Database, actor: Any, resident_id: uuid.UUID, at: datetime, outcome: str = "reached"
) -> None:
    with db.new_session() as s:
        ongi.log_contact(
            s,
            actor=actor,
            resident_id=resident_id,
            channel="phone",
            outcome=outcome,
            occurred_at=at,
            now=at,
        )


def test_nothing_is_raised_before_the_interval_runs_out(db: Database, enrolled: Any) -> None:
    enrolled("high")
    assert tick(db, T0 + timedelta(hours=23, minutes=59))["raised"] == 0
    assert live(db) == []


def test_two_ticks_at_the_same_instant_raise_one_follow_up_per_lapsed_resident(
    db: Database, enrolled: Any
) -> None:
    ids = [enrolled("high") for _ in range(3)]
    at = T0 + timedelta(hours=25)
    assert tick(db, at)["raised"] == 3
    assert tick(db, at)["raised"] == 0
    assert sorted(f.resident_id for f in live(db)) == sorted(ids)


def test_a_scheduler_stopped_for_days_raises_one_follow_up_per_resident(
    db: Database, enrolled: Any
) -> None:
    resident = enrolled("high")
    tick(db, T0)
    counts = tick(db, T0 + timedelta(days=5))
    assert counts["raised"] == 1
    (followup,) = live(db, resident)
    assert followup.due_at == T0 + timedelta(hours=24)
    assert counts["stalled_alarm"] == 1  # and the scheduler reports its own stall
    with db.new_session() as s:
        stalls = s.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.reason == "scheduler_stalled")
        )
    assert stalls == 1


def test_a_contact_logged_after_the_tick_resolves_the_follow_up_at_once(
    db: Database, enrolled: Any, counselor: Any
) -> None:
    resident = enrolled("high")
    tick(db, T0 + timedelta(hours=25))
    contact(db, counselor, resident, T0 + timedelta(hours=26))
    assert live(db, resident) == []
    with db.new_session() as s:
        (followup,) = s.scalars(select(FollowUp).where(FollowUp.resident_id == resident))
        assert (followup.state, followup.outcome) == ("resolved", "contact_made")


def test_a_contact_logged_before_the_tick_prevents_the_raise(
    db: Database, enrolled: Any, counselor: Any
) -> None:
    resident = enrolled("high")
    contact(db, counselor, resident, T0 + timedelta(hours=23))
    assert tick(db, T0 + timedelta(hours=25))["raised"] == 0
    assert live(db, resident) == []


def test_an_unsuccessful_contact_does_not_clear_the_lapse(
    db: Database, enrolled: Any, counselor: Any
) -> None:
    resident = enrolled("high")
    tick(db, T0 + timedelta(hours=25))
    contact(db, counselor, resident, T0 + timedelta(hours=26), outcome="no_answer")
    assert len(live(db, resident)) == 1


def test_resolution_re_arms_the_next_lapse(db: Database, enrolled: Any, counselor: Any) -> None:
    resident = enrolled("high")
    tick(db, T0 + timedelta(hours=25))
    (first,) = live(db, resident)
    with db.new_session() as s:
        followup_queue.resolve(
            s,
            actor=counselor,
            followup_id=first.id,
            outcome="false_alarm",
            note=None,
            now=T0 + timedelta(hours=26),
        )
    contact(db, counselor, resident, T0 + timedelta(hours=26))
    assert live(db, resident) == []
    assert tick(db, T0 + timedelta(hours=51))["raised"] == 1  # 24 h after that contact
    (second,) = live(db, resident)
    assert second.id != first.id


def test_escalation_climbs_the_ladder_once_per_step(db: Database, enrolled: Any) -> None:
    resident = enrolled("high")
    raised_at = T0 + timedelta(hours=25)
    tick(db, raised_at)
    (followup,) = live(db, resident)
    assert (followup.step, followup.next_escalation_at) == (1, raised_at + timedelta(hours=4))
    tick(db, raised_at + timedelta(hours=4))
    tick(db, raised_at + timedelta(hours=4))
    (followup,) = live(db, resident)
    assert (followup.step, followup.state) == (2, "escalated")
    with db.new_session() as s:
        kinds = list(
            s.scalars(
                select(FollowUpEvent.kind)
                .where(FollowUpEvent.followup_id == followup.id)
                .order_by(FollowUpEvent.at)
            )
        )
        notices = [
            m.payload
            for m in s.scalars(select(OutboxMessage))
            if m.payload.get("followup_id") == str(followup.id)
        ]
    assert kinds == ["raised", "escalated"]
    assert [(n["step"], n["action"]) for n in notices] == [(1, "phone_check"), (2, "home_visit")]


def test_a_resident_who_died_has_open_follow_ups_cancelled_with_that_reason(
    db: Database, enrolled: Any, counselor: Any
) -> None:
    resident = enrolled("high")
    tick(db, T0 + timedelta(hours=25))
    with db.new_session() as s:
        version = residents.get_resident(s, actor=counselor, resident_id=resident).version
        residents.change_status(
            s,
            actor=counselor,
            resident_id=resident,
            status="deceased",
            expected_version=version,
            now=T0 + timedelta(hours=26),
        )
    assert tick(db, T0 + timedelta(hours=27))["cancelled"] == 1
    with db.new_session() as s:
        (followup,) = s.scalars(select(FollowUp).where(FollowUp.resident_id == resident))
    assert (followup.state, followup.outcome) == ("cancelled", "resident_deceased")


def test_a_paused_enrollment_raises_nothing_and_cancels_its_follow_up(
    db: Database, enrolled: Any, counselor: Any
) -> None:
    resident = enrolled("high")
    tick(db, T0 + timedelta(hours=25))
    with db.new_session() as s:
        enrollment_id = s.scalar(select(ongi.OngiEnrollment.id))
        ongi.update_enrollment(
            s,
            actor=counselor,
            enrollment_id=enrollment_id,
            expected_version=None,
            status="paused",
            now=T0 + timedelta(hours=26),
        )
    assert live(db, resident) == []
    assert tick(db, T0 + timedelta(days=3))["raised"] == 0


def test_an_erased_resident_is_never_raised_again(db: Database, enrolled: Any, app: Flask) -> None:
    resident = enrolled("high")
    tick(db, T0 + timedelta(hours=25))
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    with db.new_session() as s:
        residents.erase_resident(
            s,
            actor=supervisor,
            resident_id=resident,
            reason="파기 요청",
            now=T0 + timedelta(hours=26),
        )
    first = tick(db, T0 + timedelta(hours=27))
    assert first["cancelled"] == 1
    for hours in (28, 60, 200):
        counts = tick(db, T0 + timedelta(hours=hours))
        assert (counts["raised"], counts["cancelled"]) == (0, 0)


def test_a_resident_who_moves_dong_takes_their_follow_ups_to_the_new_team(
    db: Database, enrolled: Any, app: Flask
) -> None:
    resident = enrolled("high")
    tick(db, T0 + timedelta(hours=25))
    both = make_staff(app, "counselor", (GASAN, DOKSAN1)).actor()
    with db.new_session() as s:
        version = residents.get_resident(s, actor=both, resident_id=resident).version
        residents.update_resident(
            s,
            actor=both,
            resident_id=resident,
            expected_version=version,
            changes={"dong": DOKSAN1},
            now=T0 + timedelta(hours=26),
        )
    gasan = make_staff(app, "counselor", (GASAN,)).actor()
    doksan = make_staff(app, "counselor", (DOKSAN1,)).actor()
    with db.new_session() as s:
        now = T0 + timedelta(hours=27)
        assert followup_queue.list_followups(s, actor=gasan, now=now).items == []
        (moved,) = followup_queue.list_followups(s, actor=doksan, now=now).items
        assert moved.record.resident_id == resident
        enrollment = s.scalar(
            select(ongi.OngiEnrollment).where(ongi.OngiEnrollment.resident_id == resident)
        )
        assert enrollment is not None
        assert enrollment.dong_code == DOKSAN1


def test_supervisors_see_and_resolve_the_schedulers_own_alarm(
    db: Database, enrolled: Any, counselor: Any, app: Flask
) -> None:
    enrolled("high")
    tick(db, T0)
    tick(db, T0 + timedelta(days=2))  # the stall raises a system follow-up
    supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
    now = T0 + timedelta(days=2, hours=1)
    with db.new_session() as s:
        seen = followup_queue.list_followups(
            s, actor=supervisor, now=now, reason="scheduler_stalled"
        )
        (stall,) = [item.record for item in seen.items]
        assert (
            followup_queue.list_followups(
                s, actor=counselor, now=now, reason="scheduler_stalled"
            ).items
            == []
        )
        with pytest.raises(InvalidInput):
            followup_queue.resolve(
                s,
                actor=supervisor,
                followup_id=stall.id,
                outcome="other",
                note="서버 재시작",
                now=now,
            )
        resolved = followup_queue.resolve(
            s, actor=supervisor, followup_id=stall.id, outcome="other", note=None, now=now
        )
    assert resolved.state == "resolved"


@pytest.mark.parametrize("page", [ongi_rule.CLEARED_PAGE, 1])
def test_a_lapse_whose_cause_ended_by_any_path_is_cancelled_and_the_others_stay_live_once(
    db: Database, enrolled: Any, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    """The tick re-checks every live lapse itself: a cause that ended without `log_contact` or
    the services (a plain UPDATE, as a repair or an import would write it) is still seen, and
    a lapse whose cause holds stays live, never raised a second time. The cleared subjects are
    read again a page at a time (a page of one here too), and every page counts."""
    monkeypatch.setattr(ongi_rule, "CLEARED_PAGE", page)
    contacted, moved, ended, paused, returned, untouched = (enrolled("high") for _ in range(6))
    at = T0 + timedelta(hours=25)
    assert tick(db, at)["raised"] == 6
    with db.new_session() as s:

        def enrollment(resident_id: uuid.UUID, **values: Any) -> None:
            s.execute(
                update(OngiEnrollment)
                .where(OngiEnrollment.resident_id == resident_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

        enrollment(contacted, next_due_at=at + timedelta(hours=24))
        enrollment(ended, status="ended", ended_at=at)
        enrollment(paused, status="paused", paused_at=at)
        for resident_id, status in ((moved, "moved_out"), (returned, "deceased")):
            s.execute(update(Resident).where(Resident.id == resident_id).values(status=status))
        s.commit()
    with db.new_session() as s:  # a status set back before any tick saw it: the cause holds
        s.execute(update(Resident).where(Resident.id == returned).values(status="active"))
        s.commit()
    counts = tick(db, at + timedelta(minutes=1))
    assert (counts["cancelled"], counts["raised"]) == (4, 0)
    with db.new_session() as s:
        outcomes = dict(
            s.execute(
                select(FollowUp.resident_id, FollowUp.outcome).where(FollowUp.state == "cancelled")
            ).all()
        )
    assert outcomes == {
        contacted: "contact_made",
        moved: "resident_moved_out",
        ended: "enrollment_ended",
        paused: "enrollment_paused",
    }
    assert sorted(f.resident_id for f in live(db)) == sorted([returned, untouched])
    counts = tick(db, at + timedelta(minutes=2))
    assert (counts["cancelled"], counts["raised"]) == (0, 0)
    assert len(live(db)) == 2


def test_a_due_enrollment_whose_lapse_was_closed_is_raised_again_once(
    db: Database, enrolled: Any
) -> None:
    """A live lapse blocks a second raise for its resident; once it is closed without the cause
    ending (closed by hand, here a plain UPDATE), the next tick raises one new lapse."""
    resident, other = enrolled("high"), enrolled("high")
    at = T0 + timedelta(hours=25)
    assert tick(db, at)["raised"] == 2
    assert tick(db, at + timedelta(hours=1))["raised"] == 0
    with db.new_session() as s:
        s.execute(
            update(FollowUp)
            .where(FollowUp.resident_id == resident)
            .values(state="resolved", outcome="closed_by_hand")
            .execution_options(synchronize_session=False)
        )
        s.commit()
    assert tick(db, at + timedelta(hours=2))["raised"] == 1
    assert tick(db, at + timedelta(hours=2))["raised"] == 0
    assert [f.resident_id for f in live(db, resident)] == [resident]
    assert [f.resident_id for f in live(db, other)] == [other]


@pytest.mark.parametrize("status", ["moved_out", "deceased", "erased"])
def test_a_due_enrollment_of_a_resident_who_left_is_not_raised(
    db: Database, enrolled: Any, status: str
) -> None:
    """Whether a due resident left is asked of the partial index of residents who are not active
    (on SQLite by name): a resident marked gone by a plain UPDATE, enrollment still active and
    due, is not raised; the one who stayed is."""
    gone, stayed = enrolled("high"), enrolled("high")
    with db.new_session() as s:
        s.execute(update(Resident).where(Resident.id == gone).values(status=status))
        s.commit()
    at = T0 + timedelta(hours=25)
    assert tick(db, at)["raised"] == 1
    assert [f.resident_id for f in live(db)] == [stayed]
    if db.dialect == "sqlite":
        with db.new_session() as s:
            sql = str(
                ongi_rule.lapsed(at).compile(
                    dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}
                )
            )
            plan = [row[-1] for row in s.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
        assert any("USING INDEX ix_residents_not_active" in line for line in plan), plan
