"""The follow-up engine every program raises through: raise, escalate, cancel, resolve.

The staff's side (the queue, claiming, assigning, resolving by hand) is `services.followup_queue`.
Raising is idempotent by constraint: a partial unique index allows one live follow-up per
(subject, reason), and inserts use ON CONFLICT DO NOTHING, so two ticks on ten nodes cannot
duplicate. Escalation is compare-and-set on the step, so two ticks cannot both advance it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.orm import Session

from config.ladders import LadderBook, load_ladders, load_risk_levels
from services import vault
from welfare.calendar import BusinessCalendar, next_escalation_at
from welfare.models import (
    Actor,
    ExtraHoliday,
    FollowUp,
    FollowUpEvent,
    FollowUpState,
    OutboxMessage,
)
from welfare.models.base import in_literals
from welfare.models.bulk import (
    JsonText,
    Same,
    SqliteText,
    UuidHex,
    dashed,
    fresh_uuid_hex,
    insert_columns,
    insert_rows,
    json_serializer,
)
from welfare.models.followup import LIVE

LIVE_STATES = (FollowUpState.OPEN.value, FollowUpState.ESCALATED.value)
FOLLOWUPS = cast(Table, FollowUp.__table__)
FOLLOWUP_EVENTS = cast(Table, FollowUpEvent.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)


@cache
def ladders() -> LadderBook:
    return load_ladders()


@cache
def risk_ranks() -> Mapping[str, int]:
    """Each risk level's place in config/risk_levels.json, 0 the highest."""
    return {code: rank for rank, code in enumerate(load_risk_levels())}


def risk_rank(risk_level: str | None) -> int:
    """A follow-up's rank for ordering by risk; one without a known level comes last."""
    ranks = risk_ranks()
    return ranks.get(risk_level, len(ranks)) if risk_level is not None else len(ranks)


def business_calendar(session: Session) -> BusinessCalendar:
    return BusinessCalendar(extra_holidays=session.scalars(select(ExtraHoliday.day)).all())


@dataclass(frozen=True, slots=True)
class Raise:
    """A follow-up the tick wants to exist."""

    subject_type: str
    subject_id: uuid.UUID
    resident_id: uuid.UUID | None
    dong_code: str | None
    program: str
    reason: str
    risk_level: str | None
    due_at: datetime
    evidence: Mapping[str, Any]
    # The incident this follow-up is grouped under: its notices go out once per team and step
    # for the whole group, not once per follow-up.
    incident_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Raises:
    """Follow-ups the tick wants to exist, column by column, as `raise_columns` writes them:
    what `of` makes of `Raise`s, or what a rule makes of its due rows read as SQLite stores
    them (`FollowUpRule.stored`), the ids as `UuidHex` and the due times as `SqliteText`."""

    subject_type: Sequence[str]
    subject_id: Sequence[uuid.UUID] | UuidHex
    resident_id: Sequence[uuid.UUID | None] | UuidHex
    dong_code: Sequence[str | None]
    program: Sequence[str]
    reason: Sequence[str]
    risk_level: Sequence[str | None]
    due_at: Sequence[datetime] | SqliteText
    evidence: Sequence[str]  # each serialized by `json_serializer` for the session's dialect
    incident_id: Sequence[uuid.UUID | None]

    @classmethod
    def of(cls, raises: Sequence[Raise], serialize: Callable[[Any], str]) -> Raises:
        return cls(
            subject_type=[item.subject_type for item in raises],
            subject_id=[item.subject_id for item in raises],
            resident_id=[item.resident_id for item in raises],
            dong_code=[item.dong_code for item in raises],
            program=[item.program for item in raises],
            reason=[item.reason for item in raises],
            risk_level=[item.risk_level for item in raises],
            due_at=[item.due_at for item in raises],
            evidence=[serialize(dict(item.evidence)) for item in raises],
            incident_id=[item.incident_id for item in raises],
        )


def raise_many(
    session: Session,
    raises: Sequence[Raise],
    *,
    as_of: datetime,
    run_id: uuid.UUID | None,
    calendar: BusinessCalendar,
) -> int:
    """Insert the missing follow-ups; ones that already exist are skipped by the constraint."""
    if not raises:
        return 0
    serialize = json_serializer(session.get_bind().dialect)
    return raise_columns(
        session, Raises.of(raises, serialize), as_of=as_of, run_id=run_id, calendar=calendar
    )


def raise_columns(
    session: Session,
    raises: Raises,
    *,
    as_of: datetime,
    run_id: uuid.UUID | None,
    calendar: BusinessCalendar,
) -> int:
    """`raise_many` for follow-ups given column by column."""
    count = len(raises.reason)
    if not count:
        return 0
    serialize = json_serializer(session.get_bind().dialect)
    # What the first rung gives depends on the ladder only (one as_of, one calendar): worked
    # out once per (reason, risk level), not once per follow-up.
    keys = list(zip(raises.reason, raises.risk_level, strict=True))
    firsts = {key: _FirstStep.of(key, as_of, calendar, serialize) for key in set(keys)}
    steps = [firsts[key] for key in keys]
    ids = fresh_uuid_hex(count)
    # One statement per table however many rows (welfare.models.bulk, column by column: arrays
    # unnested on PostgreSQL, the driver's executemany on SQLite); a tick may raise thousands.
    inserted = insert_columns(
        session,
        FOLLOWUPS,
        count,
        {
            "id": UuidHex(ids),
            "subject_type": raises.subject_type,
            "subject_id": raises.subject_id,
            "resident_id": raises.resident_id,
            "dong_code": raises.dong_code,
            "program": raises.program,
            "reason": raises.reason,
            "risk_level": raises.risk_level,
            "state": Same(FollowUpState.OPEN.value),
            "step": Same(1),
            "due_at": raises.due_at,
            "next_escalation_at": [step.escalation_at for step in steps],
            "raised_at": Same(as_of),
            "raised_by_run_id": Same(run_id),
            "evidence": JsonText(raises.evidence),
            "incident_id": raises.incident_id,
            "risk_rank": [step.rank for step in steps],
            "version": Same(1),
        },
        skip_conflicts_on=("subject_id", "reason"),
        conflict_where=LIVE,  # the partial index's own predicate, as SQL text
    )
    if not inserted:
        return 0
    insert_columns(
        session,
        FOLLOWUP_EVENTS,
        len(inserted),
        {
            "id": UuidHex(fresh_uuid_hex(len(inserted))),
            "followup_id": UuidHex([ids[p] for p in inserted]),
            "at": Same(as_of),
            "kind": Same("raised"),
            "step": Same(1),
            "actor_staff_id": Same(None),
            "run_id": Same(run_id),
            "detail": JsonText([steps[p].detail for p in inserted]),
            "note_enc": Same(None),
        },
    )
    # A follow-up grouped under an incident is announced with its group, once per team.
    grouped = TeamNotices(kind="raised", at=as_of)
    alone = []
    for p in inserted:
        incident_id = raises.incident_id[p]
        if incident_id is None:
            alone.append(p)
            continue
        grouped.add(
            uuid.UUID(hex=ids[p]),
            incident_id=incident_id,
            dong=raises.dong_code[p],
            step=1,
            action=steps[p].action,
            target_role=steps[p].target_role,
        )
    # Each notice as `_notice` makes it: its followup id is the only part that varies
    # within a (ladder, dong), so the payload is that pair's JSON with the id put in.
    templates: dict[tuple[_FirstStep, str | None], tuple[str, str]] = {}
    keys_, payloads = [], []
    for p in alone:
        followup_id = dashed(ids[p])
        dong = raises.dong_code[p]
        template_key = (steps[p], dong)
        template = templates.get(template_key)
        if template is None:
            template = templates[template_key] = steps[p].payload_template(dong, serialize)
        keys_.append(_notice_key(followup_id, 1))
        payloads.append(f"{template[0]}{followup_id}{template[1]}")
    insert_columns(
        session,
        OUTBOX,
        len(alone),
        {
            "id": UuidHex(fresh_uuid_hex(len(alone))),
            "idempotency_key": keys_,
            "kind": Same("followup_step"),
            "payload": JsonText(payloads),
            "created_at": Same(as_of),
            "next_attempt_at": Same(as_of),
            "attempts": Same(0),
            "delivered_at": Same(None),
            "last_error": Same(None),
        },
    )
    insert_rows(session, OUTBOX, grouped.rows())
    return len(inserted)


_ID_MARK = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class _FirstStep:
    """The first rung of a (reason, risk level)'s ladder, as a raise writes it."""

    action: str
    target_role: str
    escalation_at: datetime
    rank: int
    detail: str  # the `raised` event's detail, serialized

    @classmethod
    def of(
        cls,
        key: tuple[str, str | None],
        as_of: datetime,
        calendar: BusinessCalendar,
        serialize: Callable[[Any], str],
    ) -> _FirstStep:
        reason, risk_level = key
        step = ladders().for_(reason, risk_level).step(1)
        return cls(
            action=step.action,
            target_role=step.target_role,
            escalation_at=next_escalation_at(as_of, step, calendar),
            rank=risk_rank(risk_level),
            detail=serialize({"action": step.action, "target_role": step.target_role}),
        )

    def payload_template(
        self, dong: str | None, serialize: Callable[[Any], str]
    ) -> tuple[str, str]:
        """`_notice`'s payload for this rung and dong, serialized, split where the follow-up's
        id goes (an id serializes as itself: hex digits and dashes need no escaping)."""
        text = serialize(
            _notice(
                uuid.UUID(_ID_MARK),
                step=1,
                action=self.action,
                target_role=self.target_role,
                dong=dong,
                at=datetime.min.replace(tzinfo=UTC),
            )["payload"]
        )
        before, mark, after = text.partition(_ID_MARK)
        if not mark or _ID_MARK in after:
            raise AssertionError("a notice payload's template must hold the id once")
        return before, after


class TeamNotices:
    """The notices of follow-ups grouped under an incident: one per (incident, team, step),
    counting its follow-ups, instead of one per follow-up. A team is a dong's staff."""

    def __init__(self, *, kind: str, at: datetime) -> None:
        self.kind = kind
        self.at = at
        self.counts: dict[tuple[uuid.UUID, str | None, int, str, str], int] = {}
        self.first: dict[tuple[uuid.UUID, str | None, int, str, str], uuid.UUID] = {}

    def add(
        self,
        followup_id: uuid.UUID,
        *,
        incident_id: uuid.UUID,
        dong: str | None,
        step: int,
        action: str,
        target_role: str,
    ) -> None:
        key = (incident_id, dong, step, action, target_role)
        self.counts[key] = self.counts.get(key, 0) + 1
        # The key names one follow-up of the batch, so two batches never share a key.
        self.first.setdefault(key, followup_id)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "id": uuid.uuid4(),
                "idempotency_key": (
                    f"incident:{self.first[key]}:{step}:{self.kind}:{self.at.isoformat()}"
                )[:120],
                "kind": "incident_followups",
                "payload": {
                    "incident_id": str(incident_id),
                    "dong": dong,
                    "step": step,
                    "action": action,
                    "target_role": target_role,
                    "event": self.kind,
                    "count": count,
                },
                "created_at": self.at,
                "next_attempt_at": self.at,
                "attempts": 0,
                "delivered_at": None,
                "last_error": None,
            }
            for key, count in self.counts.items()
            for incident_id, dong, step, action, target_role in (key,)
        ]


def escalate_due(
    session: Session,
    *,
    as_of: datetime,
    run_id: uuid.UUID | None,
    calendar: BusinessCalendar,
    batch: int = 1000,
) -> int:
    """Advance every live follow-up whose escalation time has come, one compare-and-set each."""
    stmt = (
        select(FollowUp)
        .where(in_literals(FollowUp.state, LIVE_STATES), FollowUp.next_escalation_at <= as_of)
        .order_by(FollowUp.next_escalation_at)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    moved = 0
    grouped = {kind: TeamNotices(kind=kind, at=as_of) for kind in ("escalated", "realerted")}
    for followup in session.scalars(stmt).all():
        ladder = ladders().for_(followup.reason, followup.risk_level)
        step, due = followup.step, followup.next_escalation_at
        assert due is not None  # noqa: S101 - selected on it
        kind = "escalated"
        while due <= as_of:
            if step < len(ladder.steps):
                step += 1
            else:
                kind = "realerted"  # last rung overdue: alert its target again
            due = next_escalation_at(due, ladder.step(step), calendar)
        result = session.execute(
            update(FollowUp)
            .where(
                FollowUp.id == followup.id,
                FollowUp.step == followup.step,
                in_literals(FollowUp.state, LIVE_STATES),
            )
            .values(
                step=step,
                state=FollowUpState.ESCALATED.value,
                next_escalation_at=due,
                version=FollowUp.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        # Session.execute is typed as Result; a DML statement gives a CursorResult with rowcount.
        if cast(CursorResult[Any], result).rowcount != 1:
            continue  # someone else moved it first
        rung = ladder.step(step)
        add_event(
            session,
            followup.id,
            kind,
            step,
            at=as_of,
            run_id=run_id,
            detail={"action": rung.action, "target_role": rung.target_role},
        )
        moved += 1
        if followup.incident_id is not None:
            grouped[kind].add(
                followup.id,
                incident_id=followup.incident_id,
                dong=followup.dong_code,
                step=step,
                action=rung.action,
                target_role=rung.target_role,
            )
            continue
        _notify(
            session,
            followup.id,
            step=step,
            action=rung.action,
            target_role=rung.target_role,
            dong=followup.dong_code,
            at=as_of,
            key_suffix=f"{kind}:{due.isoformat()}",
        )
    insert_rows(session, OUTBOX, [row for team in grouped.values() for row in team.rows()])
    return moved


def cancel_live(
    session: Session,
    *,
    subject_id: uuid.UUID,
    reason: str,
    why: str,
    now: datetime,
    actor: Actor | None = None,
    run_id: uuid.UUID | None = None,
) -> int:
    return _close_live(
        session,
        subject_id=subject_id,
        reason=reason,
        outcome=why,
        now=now,
        state=FollowUpState.CANCELLED,
        actor=actor,
        run_id=run_id,
    )


def resolve_live(
    session: Session,
    *,
    subject_id: uuid.UUID,
    reason: str,
    outcome: str,
    now: datetime,
    actor: Actor | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    return _close_live(
        session,
        subject_id=subject_id,
        reason=reason,
        outcome=outcome,
        now=now,
        state=FollowUpState.RESOLVED,
        actor=actor,
        detail=detail,
    )


def resolve_live_many(
    session: Session,
    *,
    details: Mapping[uuid.UUID, Mapping[str, Any]],
    reason: str,
    outcome: str,
    now: datetime,
    actor: Actor | None = None,
) -> int:
    """`resolve_live` for many subjects in two statements (a signal batch): one UPDATE of
    their live follow-ups of `reason`, returning what it closed (a follow-up closed meanwhile
    by someone else is not touched), and one INSERT of their `resolved` events, each with its
    subject's `details`."""
    if not details:
        return 0
    closed = session.execute(
        update(FollowUp)
        .where(
            FollowUp.subject_id.in_(sorted(details)),
            FollowUp.reason == reason,
            in_literals(FollowUp.state, LIVE_STATES),
        )
        .values(
            state=FollowUpState.RESOLVED.value,
            outcome=outcome,
            resolved_at=now,
            resolved_by=actor.staff_id if actor else None,
            next_escalation_at=None,
            version=FollowUp.version + 1,
        )
        .returning(FollowUp.id, FollowUp.subject_id, FollowUp.step)
        # A follow-up this session already holds is refreshed from what the UPDATE returned.
        .execution_options(synchronize_session="fetch")
    ).all()
    insert_rows(
        session,
        FOLLOWUP_EVENTS,
        [
            {
                "id": uuid.uuid4(),
                "followup_id": followup_id,
                "at": now,
                "kind": FollowUpState.RESOLVED.value,
                "step": step,
                "actor_staff_id": actor.staff_id if actor else None,
                "run_id": None,
                "detail": {"outcome": outcome, **details[subject_id]},
                "note_enc": None,
            }
            for followup_id, subject_id, step in closed
        ],
    )
    return len(closed)


def _close_live(
    session: Session,
    *,
    subject_id: uuid.UUID,
    reason: str,
    outcome: str,
    now: datetime,
    state: FollowUpState,
    actor: Actor | None,
    run_id: uuid.UUID | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    live = session.scalars(
        select(FollowUp).where(
            FollowUp.subject_id == subject_id,
            FollowUp.reason == reason,
            in_literals(FollowUp.state, LIVE_STATES),
        )
    ).all()
    for followup in live:
        followup.close(state=state, outcome=outcome, by=actor.staff_id if actor else None, at=now)
        add_event(
            session,
            followup.id,
            state.value,
            followup.step,
            at=now,
            actor=actor,
            run_id=run_id,
            detail={"outcome": outcome, **(detail or {})},
        )
    return len(live)


def add_event(
    session: Session,
    followup_id: uuid.UUID,
    kind: str,
    step: int,
    *,
    at: datetime,
    actor: Actor | None = None,
    run_id: uuid.UUID | None = None,
    detail: Mapping[str, Any] | None = None,
    note: str | None = None,
    key_subject: uuid.UUID | None = None,
) -> None:
    event_id = uuid.uuid4()
    note_enc = None
    if note and key_subject:
        note_enc = vault.seal(
            session, key_subject, "followup_events", "note", event_id, plaintext=note
        )
    session.add(
        FollowUpEvent(
            id=event_id,
            followup_id=followup_id,
            at=at,
            kind=kind,
            step=step,
            actor_staff_id=actor.staff_id if actor else None,
            run_id=run_id,
            detail=dict(detail or {}),
            note_enc=note_enc,
        )
    )


def key_subject(followup: FollowUp) -> uuid.UUID | None:
    """Whose data key seals this follow-up's notes: the resident's, or an unlinked care
    request's own; system follow-ups keep no notes (they are about no person)."""
    if followup.resident_id is not None:
        return followup.resident_id
    own_key = ("care_request", "dispatch")  # subjects with a data key of their own until linked
    return followup.subject_id if followup.subject_type in own_key else None


def move_notes(
    session: Session,
    *,
    actor: Actor,
    subject_id: uuid.UUID,
    from_key: bytes,
    to_subject: uuid.UUID,
    to_key: bytes,
) -> None:
    """Re-seal the notes of follow-ups about `subject_id` under another subject's key (a care
    request linked to a resident), before the old key is destroyed."""
    events = session.scalars(
        select(FollowUpEvent)
        .join(FollowUp, FollowUp.id == FollowUpEvent.followup_id)
        .where(FollowUp.subject_id == subject_id, FollowUpEvent.note_enc.is_not(None))
    )
    for event in events:
        plaintext = vault.open_value(
            session,
            actor=actor,
            subject_id=subject_id,
            table="followup_events",
            column="note",
            row_id=event.id,
            blob=event.note_enc,
            key=from_key,
        )
        event.note_enc = vault.seal(
            session,
            to_subject,
            "followup_events",
            "note",
            event.id,
            plaintext=plaintext,
            key=to_key,
        )


def _notice_key(followup_id: uuid.UUID | str, step: int, suffix: str = "") -> str:
    """A follow-up step's notice's idempotency key: one notice per follow-up, step and suffix."""
    return f"followup:{followup_id}:{step}:{suffix}"[:120]


def _notice(
    followup_id: uuid.UUID,
    *,
    step: int,
    action: str,
    target_role: str,
    dong: str | None,
    at: datetime,
    key_suffix: str = "",
) -> dict[str, Any]:
    """A notification row: ids and codes only, never personal data."""
    return {
        "id": uuid.uuid4(),
        "idempotency_key": _notice_key(followup_id, step, key_suffix),
        "kind": "followup_step",
        "payload": {
            "followup_id": str(followup_id),
            "step": step,
            "action": action,
            "target_role": target_role,
            "dong": dong,
        },
        "created_at": at,
        "next_attempt_at": at,
        "attempts": 0,
        "delivered_at": None,
        "last_error": None,
    }


def _notify(session: Session, followup_id: uuid.UUID, **fields: Any) -> None:
    """Queue a notification in the same transaction as its cause."""
    session.add(OutboxMessage(**_notice(followup_id, **fields)))
