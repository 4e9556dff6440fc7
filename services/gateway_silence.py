"""Gateway silence: each gateway's signal rhythm, silent gateways, and their incidents.

Every batch with an accepted signal moves its gateway's `GatewayWatch`: when it last spoke and
the gap learned from its batches (`config/gateway_silence.json` says how). A gateway that has
said nothing for longer than its threshold is silent; the tick (`schedulers/gateway_silence.py`)
raises one `gateway_silent` follow-up for it (the incident) and groups under it the lapses of
the residents whose last proof of life came through it (`OngiEnrollment.last_success_gateway_id`).

Who sees an incident: admins (it names a gateway and counts, no resident), and staff who work
with residents in one of the gateway's dongs; the grouped follow-ups each in their own dong's
scope, highest risk first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.gateway_silence import SilencePolicy, load_silence_policy
from services import access
from services.followups import LIVE_STATES
from services.pagination import KeyKind, Keyset, Page, paginate
from services.residents.labels import Labelled, label_page
from welfare.errors import InvalidInput, NotFound, PreconditionFailed
from welfare.models import (
    Actor,
    EnrollmentStatus,
    FollowUp,
    FollowUpReason,
    GatewayWatch,
    OngiEnrollment,
    Resident,
    ResidentStatus,
    Role,
    Staff,
    StaffDong,
)
from welfare.models.base import eq_literal, in_literals

REASON = FollowUpReason.GATEWAY_SILENT.value
SUBJECT_TYPE = "gateway"
INCIDENT_ORDER = Keyset.of((FollowUp.raised_at, KeyKind.INSTANT), (FollowUp.id, KeyKind.UUID))
GROUP_ORDER = Keyset.of(
    (FollowUp.risk_rank, KeyKind.INTEGER),
    (FollowUp.due_at, KeyKind.INSTANT),
    (FollowUp.id, KeyKind.UUID),
)
WATCH_ORDER = Keyset.of((GatewayWatch.gateway_id, KeyKind.UUID))
MAX_EXPECTED_MINUTES = 7 * 24 * 60


@cache
def silence_policy() -> SilencePolicy:
    return load_silence_policy()


# --- the gateway's side: every accepted batch ------------------------------------------------


def note_signals(session: Session, *, gateway_id: uuid.UUID, now: datetime) -> None:
    """A batch from this gateway carried an accepted signal: it is alive at `now`, and the gap
    since its last batch teaches its rhythm. One row per gateway, created on its first batch."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(GatewayWatch)
        .values(gateway_id=gateway_id, batches=0, updated_at=now, version=1)
        .on_conflict_do_nothing(index_elements=["gateway_id"])
    )
    watch = session.scalar(
        select(GatewayWatch).where(GatewayWatch.gateway_id == gateway_id).with_for_update()
    )
    assert watch is not None  # noqa: S101 - inserted above
    if watch.last_signal_at is not None and now > watch.last_signal_at:
        learned = silence_policy().learn(watch.learned, now - watch.last_signal_at)
        watch.learned_interval_seconds = max(1, int(learned.total_seconds()))
    if watch.last_signal_at is None or now > watch.last_signal_at:
        watch.last_signal_at = now
    watch.batches += 1
    watch.updated_at = now


# --- what the tick asks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Silence:
    """A gateway silent at `as_of`: since when, against which expected gap and threshold."""

    gateway_id: uuid.UUID
    last_signal_at: datetime
    expected: timedelta
    threshold: timedelta

    @property
    def silent_since(self) -> datetime:
        return self.last_signal_at + self.threshold


def rhythm(watch: GatewayWatch, policy: SilencePolicy | None = None) -> tuple[timedelta, timedelta]:
    """A gateway's expected gap between batches, and the silence that makes an incident."""
    policy = policy or silence_policy()
    expected = policy.expected(
        configured=watch.configured, learned=watch.learned, batches=watch.batches
    )
    return expected, policy.threshold(expected)


def silent_gateways(session: Session, as_of: datetime) -> list[Silence]:
    """Active gateways that have spoken before and have been quiet past their threshold. There
    are tens of gateways, not thousands, so the thresholds are worked out here, not in SQL."""
    found = []
    rows = session.scalars(
        select(GatewayWatch)
        .join(Staff, Staff.id == GatewayWatch.gateway_id)
        .where(
            Staff.is_active.is_(True),
            Staff.role == Role.GATEWAY.value,
            GatewayWatch.last_signal_at.is_not(None),
        )
        .order_by(GatewayWatch.gateway_id)
    )
    for watch in rows:
        assert watch.last_signal_at is not None  # noqa: S101 - selected on it
        expected, threshold = rhythm(watch)
        if as_of - watch.last_signal_at > threshold:
            found.append(Silence(watch.gateway_id, watch.last_signal_at, expected, threshold))
    return found


def dependents(gateway_id: uuid.UUID) -> Select[Any]:
    """Active residents under an active watch whose last proof of life came through this
    gateway (found through the enrollment's own index, not the contact log)."""
    return (
        select(OngiEnrollment.resident_id)
        .join(Resident, Resident.id == OngiEnrollment.resident_id)
        .where(
            OngiEnrollment.last_success_gateway_id == gateway_id,
            eq_literal(OngiEnrollment.status, EnrollmentStatus.ACTIVE.value),
            Resident.status == ResidentStatus.ACTIVE.value,
        )
    )


def count_dependents(session: Session, gateway_id: uuid.UUID) -> int:
    counted = session.scalar(select(func.count()).select_from(dependents(gateway_id).subquery()))
    return int(counted or 0)


def live_incidents(session: Session, gateway_ids: Sequence[uuid.UUID]) -> list[FollowUp]:
    if not gateway_ids:
        return []
    return list(
        session.scalars(
            select(FollowUp)
            .where(
                FollowUp.reason == REASON,
                FollowUp.subject_id.in_(gateway_ids),
                in_literals(FollowUp.state, LIVE_STATES),
            )
            .order_by(FollowUp.raised_at)
        )
    )


# --- what staff see --------------------------------------------------------------------------


def incident_scope(actor: Actor) -> ColumnElement[bool]:
    """Incidents the caller may see: all for admins (and the system); for staff who work with
    residents, those of gateways serving one of their dongs; none for anyone else."""
    is_incident = and_(FollowUp.subject_type == SUBJECT_TYPE, FollowUp.reason == REASON)
    if actor.is_system or actor.role is Role.ADMIN:
        return and_(is_incident, true())
    if actor.role not in access.RESIDENT_DATA_ROLES or not actor.dongs:
        return false()
    gateways_of_my_dongs = select(StaffDong.staff_id).where(
        access.dong_scope(actor, StaffDong.dong_code)
    )
    return and_(is_incident, FollowUp.subject_id.in_(gateways_of_my_dongs))


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as staff see it: ids, times and counts, no resident."""

    followup: FollowUp
    gateway_name: str
    grouped: int  # follow-ups grouped under it, in the caller's scope (all, for admins)
    grouped_live: int


def list_incidents(
    session: Session,
    *,
    actor: Actor,
    live_only: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[IncidentView]:
    """Gateway incidents the caller may see, oldest first like the queue: the longest silence
    is the most urgent."""
    stmt = select(FollowUp).where(incident_scope(actor))
    if live_only:
        stmt = stmt.where(in_literals(FollowUp.state, LIVE_STATES))
    page = paginate(session, stmt, INCIDENT_ORDER, cursor=cursor, limit=limit)
    views = _views(session, actor, page.items)
    access.commit_recorded(session, actor=actor, action="search", resident_ids=[])
    return Page(items=views, next_cursor=page.next_cursor)


def _views(session: Session, actor: Actor, incidents: Sequence[FollowUp]) -> list[IncidentView]:
    if not incidents:
        return []
    ids = [i.id for i in incidents]
    names = dict(
        session.execute(
            select(Staff.id, Staff.display_name).where(
                Staff.id.in_([i.subject_id for i in incidents])
            )
        ).all()
    )
    mine = true() if actor.role is Role.ADMIN else group_scope(actor)
    counts: dict[uuid.UUID, tuple[int, int]] = {}
    for incident_id, total, live in session.execute(
        select(
            FollowUp.incident_id,
            func.count(),
            func.count().filter(in_literals(FollowUp.state, LIVE_STATES)),
        )
        .where(FollowUp.incident_id.in_(ids), mine)
        .group_by(FollowUp.incident_id)
    ):
        if incident_id is not None:
            counts[incident_id] = (int(total), int(live))
    return [
        IncidentView(
            followup=i,
            gateway_name=str(names.get(i.subject_id, "")),
            grouped=counts.get(i.id, (0, 0))[0],
            grouped_live=counts.get(i.id, (0, 0))[1],
        )
        for i in incidents
    ]


def group_scope(actor: Actor) -> ColumnElement[bool]:
    return access.dong_scope(actor, FollowUp.dong_code)


def load_incident(session: Session, actor: Actor, incident_id: uuid.UUID) -> FollowUp:
    """An incident the caller may see, or 404 (and an `access_denied` record when it exists)."""
    found = session.scalar(
        select(FollowUp).where(FollowUp.id == incident_id, incident_scope(actor))
    )
    if found is not None:
        return found
    exists_elsewhere = session.scalar(
        select(FollowUp.id).where(
            FollowUp.id == incident_id,
            FollowUp.subject_type == SUBJECT_TYPE,
            FollowUp.reason == REASON,
        )
    )
    if exists_elsewhere is not None:
        access.deny(session, actor=actor)
    raise NotFound


def get_incident(session: Session, *, actor: Actor, incident_id: uuid.UUID) -> IncidentView:
    incident = load_incident(session, actor, incident_id)
    view = _views(session, actor, [incident])[0]
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[])
    return view


def incident_followups(
    session: Session,
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    live_only: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Labelled[FollowUp]]:
    """The follow-ups grouped under an incident in the caller's dongs: highest risk first, then
    by due time, each with its resident's label. A malformed cursor is refused before anything
    is looked up."""
    if cursor is not None:
        GROUP_ORDER.decode(cursor)
    incident = load_incident(session, actor, incident_id)
    stmt = select(FollowUp).where(FollowUp.incident_id == incident.id, group_scope(actor))
    if live_only:
        stmt = stmt.where(in_literals(FollowUp.state, LIVE_STATES))
    page = paginate(session, stmt, GROUP_ORDER, cursor=cursor, limit=limit)
    return label_page(session, actor, page, lambda f: f.resident_id)


# --- what admins configure ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchView:
    gateway_id: uuid.UUID
    gateway_name: str
    last_signal_at: datetime | None
    batches: int
    learned_interval_seconds: int | None
    expected_interval_seconds: int | None
    effective_expected_seconds: int
    silence_threshold_seconds: int
    silent: bool
    version: int


def _watch_view(watch: GatewayWatch, name: str, now: datetime) -> WatchView:
    expected, threshold = rhythm(watch)
    return WatchView(
        gateway_id=watch.gateway_id,
        gateway_name=name,
        last_signal_at=watch.last_signal_at,
        batches=watch.batches,
        learned_interval_seconds=watch.learned_interval_seconds,
        expected_interval_seconds=watch.expected_interval_seconds,
        effective_expected_seconds=int(expected.total_seconds()),
        silence_threshold_seconds=int(threshold.total_seconds()),
        silent=watch.last_signal_at is not None and now - watch.last_signal_at > threshold,
        version=watch.version,
    )


def list_watches(
    session: Session, *, actor: Actor, now: datetime, cursor: str | None = None, limit: int = 50
) -> Page[WatchView]:
    """Every gateway's rhythm (admins): configured, learned, and whether it is silent now."""
    stmt = select(GatewayWatch).join(Staff, Staff.id == GatewayWatch.gateway_id)
    page = paginate(session, stmt, WATCH_ORDER, cursor=cursor, limit=limit)
    names = dict(
        session.execute(
            select(Staff.id, Staff.display_name).where(
                Staff.id.in_([w.gateway_id for w in page.items])
            )
        ).all()
    )
    views = [_watch_view(w, str(names.get(w.gateway_id, "")), now) for w in page.items]
    access.commit_recorded(session, actor=actor, action="search", resident_ids=[])
    return Page(items=views, next_cursor=page.next_cursor)


def _gateway(session: Session, gateway_id: uuid.UUID) -> Staff:
    """A gateway account, or NotFound (any other account answers as if it did not exist)."""
    gateway = session.get(Staff, gateway_id)
    if gateway is None or gateway.role_enum is not Role.GATEWAY:
        raise NotFound
    return gateway


def get_watch(
    session: Session, *, actor: Actor, gateway_id: uuid.UUID, now: datetime
) -> WatchView | None:
    """One gateway's rhythm (admins, by route policy), as `list_watches` shows it; None while
    it has never sent a batch nor been configured (its watch is made then, at version 0)."""
    gateway = _gateway(session, gateway_id)
    watch = session.scalar(select(GatewayWatch).where(GatewayWatch.gateway_id == gateway_id))
    view = None if watch is None else _watch_view(watch, gateway.display_name, now)
    access.commit_recorded(session, actor=actor, action="read", resident_ids=[])
    return view


def set_expected_interval(
    session: Session,
    *,
    actor: Actor,
    gateway_id: uuid.UUID,
    expected_minutes: int | None,
    now: datetime,
    expected_version: int | None = None,
) -> WatchView:
    """Configure a gateway's expected gap between batches (None: learn it from its traffic).
    Admins only, by route policy; a gateway that has not spoken yet gets its watch now."""
    if expected_minutes is not None and not 1 <= expected_minutes <= MAX_EXPECTED_MINUTES:
        raise InvalidInput(
            {
                "expected_interval_minutes": [
                    f"1~{MAX_EXPECTED_MINUTES} 사이여야 합니다 "
                    f"(between 1 and {MAX_EXPECTED_MINUTES})"
                ]
            }
        )
    gateway = _gateway(session, gateway_id)
    watch = session.scalar(
        select(GatewayWatch).where(GatewayWatch.gateway_id == gateway_id).with_for_update()
    )
    # A watch not made yet is at version 0: any If-Match naming a version is stale.
    if expected_version is not None and expected_version != (watch.version if watch else 0):
        raise PreconditionFailed
    if watch is None:
        watch = GatewayWatch(gateway_id=gateway_id, batches=0, updated_at=now)
        session.add(watch)
    watch.expected_interval_seconds = None if expected_minutes is None else expected_minutes * 60
    watch.configured_by = actor.staff_id
    watch.updated_at = now
    access.commit_recorded(session, actor=actor, action="update", resident_ids=[])
    return _watch_view(watch, gateway.display_name, now)
