"""Generated out-of-scope matrix: every route that names a record answers 404 to staff of
another dong, for every role its policy allows, and leaves an `access_denied` record; every
listing that takes record ids in its query string shows staff of another dong nothing of dong A.

The routes come from the app's URL map, so a new route with a `<uuid:…>` parameter fails
`test_every_route_with_a_path_parameter_has_an_out_of_scope_factory` until it gets a factory
here (a real record in dong A and a valid body per method), or an exemption with its reason.
Likewise the OpenAPI document names every query parameter that is a record id, so a new listing
with one fails `test_every_listing_with_an_id_in_its_query_has_an_out_of_scope_entry` until it
gets an entry in LISTINGS.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select

from services import (
    care,
    cases,
    dispatch,
    followup_queue,
    followups,
    gateway_silence,
    hygiene,
    kimchi,
    mobility,
    ongi,
    partners,
    residents,
)
from services import staff as staff_service
from services.followups import Raise
from tests.api.test_route_policies import routes
from tests.support.casework import unique_rrn
from tests.support.staff import DOKSAN1, GASAN, issue_cli_token, log_in, make_staff
from welfare.api.policy import Policy, policy_for
from welfare.crypto.passwords import make_hasher
from welfare.database import Database
from welfare.models import Actor, ApiToken, AuditEvent, HygieneVisit, Role, Staff

T = TypeVar("T")

HOME, ELSEWHERE = GASAN, DOKSAN1  # records live in dong A; the callers work in dong B
SCOPED_ROLES = (Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR)
SOME_ID = "00000000-0000-4000-8000-0000000000aa"
CONSENT = {"given_by": "본인", "given_at": "2026-01-05T10:00:00+09:00", "scope": "연락처 제공"}
PARTNER_CONSENT = {**CONSENT, "scope": "contact"}


@dataclass(slots=True)
class World:
    """Records of dong A, made on demand through the real use cases."""

    db: Database
    actor: Actor
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    made: dict[str, Any] = field(default_factory=dict)

    def once(self, name: str, make: Callable[[], T]) -> T:
        if name not in self.made:
            self.made[name] = make()
        made: T = self.made[name]
        return made

    def resident(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                return residents.register_resident(
                    s, actor=self.actor, name="김범위", rrn=unique_rrn(), dong=HOME, now=self.now
                ).id

        return self.once("resident", make)

    def enrollment(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                return ongi.enroll(
                    s,
                    actor=self.actor,
                    resident_id=self.resident(),
                    risk_level="high",
                    now=self.now,
                ).id

        return self.once("enrollment", make)

    def contact(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                return ongi.log_contact(
                    s,
                    actor=self.actor,
                    resident_id=self.resident(),
                    channel="visit",
                    outcome="reached",
                    occurred_at=self.now,
                    now=self.now,
                    note="범위 밖 방문 메모",
                ).contact.id

        return self.once("contact", make)

    def followup(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            resident_id = self.resident()
            with self.db.new_session() as s:
                followups.raise_many(
                    s,
                    [
                        Raise(
                            subject_type="resident",
                            subject_id=resident_id,
                            resident_id=resident_id,
                            dong_code=HOME,
                            program="ongi",
                            reason="contact_lapsed",
                            risk_level="high",
                            due_at=self.now,
                            evidence={},
                        )
                    ],
                    as_of=self.now,
                    run_id=None,
                    calendar=followups.business_calendar(s),
                )
                s.commit()
                found = followup_queue.list_followups(s, actor=self.actor, now=self.now).items
                return found[0].record.id

        return self.once("followup", make)

    def case(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                case = cases.open_case(
                    s,
                    actor=self.actor,
                    resident_id=self.resident(),
                    program="care_center",
                    now=self.now,
                )
                cases.add_note(
                    s, actor=self.actor, case_id=case.id, body="범위 밖 메모", now=self.now
                )
                return case.id

        return self.once("case", make)

    def access_trail(self) -> uuid.UUID:
        """Access records of dong A: its resident registered, then an RRN revealed with a
        free-text reason, both by dong A's counselor."""

        def make() -> uuid.UUID:
            resident_id = self.resident()
            with self.db.new_session() as s:
                residents.reveal_rrn(
                    s, actor=self.actor, resident_id=resident_id, reason="범위 밖 열람 사유"
                )
            return resident_id

        return self.once("access_trail", make)

    def care_request(self) -> uuid.UUID:
        """A request that arrived before the person was registered: scoped by its own dong."""

        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                return care.receive_request(
                    s,
                    actor=self.actor,
                    dong=HOME,
                    care_type="crisis",
                    urgency="urgent",
                    summary="범위 밖 요청",
                    now=self.now,
                ).id

        return self.once("care_request", make)

    def ride(self) -> uuid.UUID:
        """A ride of dong A's eligible resident, booked for tomorrow."""

        def make() -> uuid.UUID:
            resident_id = self.resident()
            seoul = ZoneInfo("Asia/Seoul")
            day = datetime.now(seoul).date() + timedelta(days=1)
            start = datetime.combine(day, time(10, 0), tzinfo=seoul)
            with self.db.new_session() as s:
                mobility.grant(
                    s,
                    actor=self.actor,
                    resident_id=resident_id,
                    basis="frail_elder",
                    valid_from=day,
                    valid_until=day + timedelta(days=30),
                    now=self.now,
                )
                return mobility.book_ride(
                    s,
                    actor=self.actor,
                    resident_id=resident_id,
                    pickup_address="범위 밖 주소",
                    pickup_dong=HOME,
                    dropoff_address="범위 밖 병원",
                    dropoff_dong=HOME,
                    window_start=start,
                    now=self.now,
                ).ride.id

        return self.once("ride", make)

    def recurring(self) -> uuid.UUID:
        """A recurring ride of dong A's resident, every day from tomorrow."""

        def make() -> uuid.UUID:
            self.ride()  # the resident's eligibility
            seoul = ZoneInfo("Asia/Seoul")
            day = datetime.now(seoul).date() + timedelta(days=1)
            with self.db.new_session() as s:
                return mobility.create_recurring(
                    s,
                    actor=self.actor,
                    resident_id=self.resident(),
                    rrule="FREQ=DAILY",
                    pickup_time="15:00",
                    starts_on=day,
                    until=day + timedelta(days=5),
                    pickup_address="범위 밖 주소",
                    pickup_dong=HOME,
                    dropoff_address="범위 밖 병원",
                    dropoff_dong=HOME,
                    now=self.now,
                    calendar=followups.business_calendar(s),
                ).id

        return self.once("recurring", make)

    def kimchi_campaign(self) -> uuid.UUID:
        """A campaign of dong A only, started by dong A's supervisor."""

        def make() -> uuid.UUID:
            supervisor = Actor(staff_id=None, role=Role.SUPERVISOR, dongs=frozenset({HOME}))
            today = self.now.date()
            with self.db.new_session() as s:
                return kimchi.create_campaign(
                    s,
                    actor=supervisor,
                    name="범위 밖 김장",
                    starts_on=today - timedelta(days=1),
                    ends_on=today + timedelta(days=10),
                    box_count=10,
                    dongs=[HOME],
                    now=self.now,
                ).id

        return self.once("kimchi_campaign", make)

    def kimchi_allocation(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            campaign_id, resident_id = self.kimchi_campaign(), self.resident()
            with self.db.new_session() as s:
                return kimchi.allocate(
                    s,
                    actor=self.actor,
                    campaign_id=campaign_id,
                    resident_id=resident_id,
                    agency="범위 밖 기관",
                    now=self.now,
                ).id

        return self.once("kimchi_allocation", make)

    def kimchi_route(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            campaign_id, allocation_id = self.kimchi_campaign(), self.kimchi_allocation()
            with self.db.new_session() as s:
                return kimchi.create_route(
                    s,
                    actor=self.actor,
                    campaign_id=campaign_id,
                    name="범위 밖 경로",
                    delivery_on=self.now.date(),
                    allocation_ids=[allocation_id],
                    volunteer_name="범위 밖 봉사자",
                    now=self.now,
                ).id

        return self.once("kimchi_route", make)

    def external_referral(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                view, _created = partners.refer(
                    s,
                    actor=self.actor,
                    resident_id=self.resident(),
                    partner="welfare_foundation",
                    consent={"given_by": "본인", "given_at": self.now, "scope": "contact"},
                    reason="범위 밖 의뢰",
                    now=self.now,
                )
                return view.id

        return self.once("external_referral", make)

    def dispatch(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                view, _created = dispatch.request_dispatch(
                    s,
                    actor=self.actor,
                    dong=HOME,
                    urgency="urgent",
                    requester_kind="dong_center",
                    summary="범위 밖 출동 요청",
                    address="범위 밖 주소",
                    now=self.now,
                )
                return view.id

        return self.once("dispatch", make)

    def hygiene_enrollment(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                return hygiene.enroll(
                    s,
                    actor=self.actor,
                    resident_id=self.resident(),
                    provider="hygiene_care_provider",
                    services=["bathing"],
                    rrule="FREQ=WEEKLY",
                    dtstart=self.now - timedelta(days=1),
                    now=self.now,
                )[0].id

        return self.once("hygiene_enrollment", make)

    def hygiene_visit(self) -> uuid.UUID:
        def make() -> uuid.UUID:
            enrollment_id = self.hygiene_enrollment()
            with self.db.new_session() as s:
                return s.scalars(
                    select(HygieneVisit.id)
                    .where(HygieneVisit.enrollment_id == enrollment_id)
                    .order_by(HygieneVisit.scheduled_at)
                ).first()  # type: ignore[return-value]  # made by enroll

        return self.once("hygiene_visit", make)

    def incident(self) -> uuid.UUID:
        """A silent gateway of dong A's incident (it belongs to the gateway's dongs)."""

        def make() -> uuid.UUID:
            with self.db.new_session() as s:
                gateway = staff_service.create_staff(
                    s,
                    actor=None,
                    username=f"gw-{uuid.uuid4().hex[:8]}",
                    role="gateway",
                    dongs=[HOME],
                    password=None,
                    hasher=make_hasher("fast"),
                    now=self.now,
                )
                followups.raise_many(
                    s,
                    [
                        Raise(
                            subject_type="gateway",
                            subject_id=gateway.id,
                            resident_id=None,
                            dong_code=None,
                            program="system",
                            reason="gateway_silent",
                            risk_level=None,
                            due_at=self.now,
                            evidence={"dependents": 0},
                        )
                    ],
                    as_of=self.now,
                    run_id=None,
                    calendar=followups.business_calendar(s),
                )
                s.commit()
                return gateway_silence.live_incidents(s, [gateway.id])[0].id

        return self.once("incident", make)


@dataclass(frozen=True, slots=True)
class Factory:
    """How to name a real record of dong A in one route, and a valid body for each method."""

    params: Callable[[World], Mapping[str, uuid.UUID]]
    bodies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def resident(w: World) -> Mapping[str, uuid.UUID]:
    return {"resident_id": w.resident()}


def case(w: World) -> Mapping[str, uuid.UUID]:
    return {"case_id": w.case()}


def followup(w: World) -> Mapping[str, uuid.UUID]:
    return {"followup_id": w.followup()}


def external_referral(w: World) -> Mapping[str, uuid.UUID]:
    return {"referral_id": w.external_referral()}


def dispatch_(w: World) -> Mapping[str, uuid.UUID]:
    return {"dispatch_id": w.dispatch()}


def hygiene_enrollment(w: World) -> Mapping[str, uuid.UUID]:
    return {"enrollment_id": w.hygiene_enrollment()}


def hygiene_visit(w: World) -> Mapping[str, uuid.UUID]:
    return {"visit_id": w.hygiene_visit()}


def incident(w: World) -> Mapping[str, uuid.UUID]:
    return {"incident_id": w.incident()}


def care_request(w: World) -> Mapping[str, uuid.UUID]:
    return {"request_id": w.care_request()}


def ride(w: World) -> Mapping[str, uuid.UUID]:
    return {"ride_id": w.ride()}


def kimchi_campaign(w: World) -> Mapping[str, uuid.UUID]:
    return {"campaign_id": w.kimchi_campaign()}


def kimchi_allocation(w: World) -> Mapping[str, uuid.UUID]:
    return {"allocation_id": w.kimchi_allocation()}


def kimchi_route(w: World) -> Mapping[str, uuid.UUID]:
    return {"route_id": w.kimchi_route()}


FACTORIES: dict[str, Factory] = {
    # the registry
    "/api/v1/residents/<uuid:resident_id>": Factory(resident, {"PATCH": {"address": "x"}}),
    "/api/v1/residents/<uuid:resident_id>/status": Factory(
        resident, {"POST": {"status": "moved_out"}}
    ),
    "/api/v1/residents/<uuid:resident_id>/reveal-rrn": Factory(
        resident, {"POST": {"reason": "확인 필요"}}
    ),
    "/api/v1/residents/<uuid:resident_id>/erasure": Factory(
        resident, {"POST": {"reason": "파기 요청"}}
    ),
    "/api/v1/residents/<uuid:resident_id>/timeline": Factory(resident),
    "/api/v1/residents/<uuid:resident_id>/cases": Factory(resident),
    "/api/v1/residents/<uuid:resident_id>/contacts": Factory(resident),
    "/api/v1/contacts/<uuid:contact_id>": Factory(lambda w: {"contact_id": w.contact()}),
    # Ongi
    "/api/v1/ongi/enrollments/<uuid:enrollment_id>": Factory(
        lambda w: {"enrollment_id": w.enrollment()}, {"PATCH": {"risk_level": "low"}}
    ),
    # follow-ups
    "/api/v1/followups/<uuid:followup_id>": Factory(followup),
    "/api/v1/followups/<uuid:followup_id>/claim": Factory(followup),
    "/api/v1/followups/<uuid:followup_id>/assign": Factory(
        followup, {"POST": {"staff_id": SOME_ID}}
    ),
    "/api/v1/followups/<uuid:followup_id>/resolve": Factory(
        followup, {"POST": {"outcome": "confirmed_safe"}}
    ),
    # partner agencies
    "/api/v1/residents/<uuid:resident_id>/external-referrals": Factory(
        resident,
        {"POST": {"partner": "welfare_foundation", "reason": "의뢰", "consent": PARTNER_CONSENT}},
    ),
    "/api/v1/external-referrals/<uuid:referral_id>": Factory(external_referral),
    "/api/v1/external-referrals/<uuid:referral_id>/answer": Factory(
        external_referral, {"POST": {"answer": "accepted"}}
    ),
    "/api/v1/external-referrals/<uuid:referral_id>/complete": Factory(
        external_referral, {"POST": {}}
    ),
    # counselor dispatch
    "/api/v1/dispatches/<uuid:dispatch_id>": Factory(dispatch_),
    "/api/v1/dispatches/<uuid:dispatch_id>/assign": Factory(dispatch_, {"POST": {}}),
    "/api/v1/dispatches/<uuid:dispatch_id>/moves": Factory(dispatch_, {"POST": {"to": "en_route"}}),
    "/api/v1/dispatches/<uuid:dispatch_id>/done": Factory(
        dispatch_, {"POST": {"outcome": "not_found"}}
    ),
    # elder health & hygiene visits
    "/api/v1/hygiene/enrollments/<uuid:enrollment_id>": Factory(hygiene_enrollment),
    "/api/v1/hygiene/enrollments/<uuid:enrollment_id>/end": Factory(hygiene_enrollment),
    "/api/v1/hygiene/visits/<uuid:visit_id>": Factory(hygiene_visit),
    "/api/v1/hygiene/visits/<uuid:visit_id>/record": Factory(
        hygiene_visit, {"POST": {"outcome": "done", "met": True}}
    ),
    # gateway silence
    "/api/v1/gateways/incidents/<uuid:incident_id>": Factory(incident),
    "/api/v1/gateways/incidents/<uuid:incident_id>/followups": Factory(incident),
    # cases and referrals
    "/api/v1/cases/<uuid:case_id>": Factory(case, {"PATCH": {"priority": "high"}}),
    "/api/v1/cases/<uuid:case_id>/transitions": Factory(case, {"POST": {"to": "active"}}),
    "/api/v1/cases/<uuid:case_id>/notes": Factory(case, {"POST": {"body": "메모"}}),
    "/api/v1/cases/<uuid:case_id>/closure-request": Factory(case, {"POST": {}}),
    "/api/v1/cases/<uuid:case_id>/closure-decision": Factory(case, {"POST": {"approve": True}}),
    "/api/v1/cases/<uuid:case_id>/referrals": Factory(
        case, {"POST": {"program": "mobility", "reason": "이동 지원", "consent": CONSENT}}
    ),
    # the 24-hour care center
    "/api/v1/care-requests/<uuid:request_id>": Factory(care_request),
    "/api/v1/care-requests/<uuid:request_id>/respond": Factory(
        care_request, {"POST": {"note": "응대"}}
    ),
    "/api/v1/care-requests/<uuid:request_id>/handover": Factory(
        care_request, {"POST": {"to_staff_id": SOME_ID}}
    ),
    "/api/v1/care-requests/<uuid:request_id>/outcome": Factory(
        care_request, {"POST": {"outcome": "handled"}}
    ),
    "/api/v1/care-requests/<uuid:request_id>/link": Factory(
        care_request, {"POST": {"resident_id": SOME_ID}}
    ),
    # the mobility support center
    "/api/v1/mobility/rides/<uuid:ride_id>": Factory(ride),
    "/api/v1/mobility/rides/<uuid:ride_id>/outcome": Factory(
        ride, {"POST": {"outcome": "cancelled", "occurred_at": "2026-01-01T10:00:00+09:00"}}
    ),
    "/api/v1/mobility/recurring-rides/<uuid:recurring_id>": Factory(
        lambda w: {"recurring_id": w.recurring()}
    ),
    "/api/v1/mobility/recurring-rides/<uuid:recurring_id>/exceptions": Factory(
        lambda w: {"recurring_id": w.recurring()},
        {"POST": {"date": "2030-01-01", "action": "cancel"}},
    ),
    "/api/v1/mobility/rides/<uuid:ride_id>/assign": Factory(
        ride,
        {
            "POST": {
                "vehicle_id": SOME_ID,
                "driver_id": SOME_ID,
                "pickup_at": "2030-01-01T10:00:00+09:00",
            }
        },
    ),
    # the staff console's pages and forms (welfare/console/): form bodies, not JSON
    "/followups/<uuid:followup_id>": Factory(followup),
    "/followups/<uuid:followup_id>/claim": Factory(followup),
    "/followups/<uuid:followup_id>/assign": Factory(followup, {"POST": {"assignee_id": SOME_ID}}),
    "/followups/<uuid:followup_id>/resolve": Factory(
        followup, {"POST": {"outcome": "confirmed_safe"}}
    ),
    "/residents/<uuid:resident_id>": Factory(resident),
    "/residents/<uuid:resident_id>/reveal": Factory(resident, {"POST": {"reason": "확인 필요"}}),
    "/residents/<uuid:resident_id>/contact": Factory(
        resident, {"POST": {"channel": "phone", "outcome": "reached"}}
    ),
    "/cases/<uuid:case_id>": Factory(case),
    "/cases/<uuid:case_id>/notes": Factory(case, {"POST": {"body": "메모"}}),
    "/cases/<uuid:case_id>/transition": Factory(case, {"POST": {"to": "active"}}),
    "/cases/<uuid:case_id>/closure-request": Factory(case, {"POST": {}}),
    "/cases/<uuid:case_id>/closure-decision": Factory(case, {"POST": {"approve": "true"}}),
    "/cases/<uuid:case_id>/referrals": Factory(
        case,
        {
            "POST": {
                "program": "mobility",
                "reason": "이동 지원",
                "consent_given_by": "본인",
                "consent_given_at": "2026-01-05T10:00",
                "consent_scope": "연락처 제공",
            }
        },
    ),
    "/care/<uuid:request_id>": Factory(care_request),
    "/care/<uuid:request_id>/respond": Factory(care_request, {"POST": {"note": "응대"}}),
    "/care/<uuid:request_id>/handover": Factory(care_request, {"POST": {"assignee_id": SOME_ID}}),
    "/care/<uuid:request_id>/outcome": Factory(care_request, {"POST": {"outcome": "handled"}}),
    "/mobility/rides/<uuid:ride_id>": Factory(ride),
    "/mobility/rides/<uuid:ride_id>/outcome": Factory(ride, {"POST": {"outcome": "cancelled"}}),
    "/mobility/rides/<uuid:ride_id>/assign": Factory(
        ride,
        {
            "POST": {
                "vehicle_id": SOME_ID,
                "driver_id": SOME_ID,
                "pickup_at": "2030-01-01T10:00",
            }
        },
    ),
    # kimchi delivery
    "/api/v1/kimchi/campaigns/<uuid:campaign_id>": Factory(kimchi_campaign),
    "/api/v1/kimchi/campaigns/<uuid:campaign_id>/status": Factory(
        kimchi_campaign, {"POST": {"status": "allocating"}}
    ),
    "/api/v1/kimchi/campaigns/<uuid:campaign_id>/summary": Factory(kimchi_campaign),
    "/api/v1/kimchi/campaigns/<uuid:campaign_id>/allocations": Factory(
        kimchi_campaign, {"POST": {"resident_id": SOME_ID, "agency": "기관"}}
    ),
    "/api/v1/kimchi/campaigns/<uuid:campaign_id>/allocations/bulk": Factory(
        kimchi_campaign, {"POST": {"agency": "기관"}}
    ),
    "/api/v1/kimchi/allocations/<uuid:allocation_id>": Factory(kimchi_allocation),
    "/api/v1/kimchi/allocations/<uuid:allocation_id>/cancel": Factory(kimchi_allocation),
    "/api/v1/kimchi/allocations/<uuid:allocation_id>/attempts": Factory(
        kimchi_allocation,
        {"POST": {"outcome": "absent", "occurred_at": "2026-11-01T10:00:00+09:00"}},
    ),
    "/api/v1/kimchi/campaigns/<uuid:campaign_id>/routes": Factory(
        kimchi_campaign,
        {"POST": {"name": "경로", "delivery_on": "2026-12-01", "allocation_ids": [SOME_ID]}},
    ),
    "/api/v1/kimchi/routes/<uuid:route_id>": Factory(kimchi_route),
    "/api/v1/kimchi/routes/<uuid:route_id>/sheet": Factory(kimchi_route),
    "/api/v1/kimchi/routes/<uuid:route_id>/sheet.csv": Factory(kimchi_route),
    "/api/v1/kimchi/routes/<uuid:route_id>/abandon": Factory(kimchi_route),
    # the console's pages of the district plan's other services
    "/dispatches/<uuid:dispatch_id>": Factory(dispatch_),
    "/dispatches/<uuid:dispatch_id>/assign": Factory(dispatch_, {"POST": {"staff_id": ""}}),
    "/dispatches/<uuid:dispatch_id>/move": Factory(dispatch_, {"POST": {"to": "en_route"}}),
    "/dispatches/<uuid:dispatch_id>/done": Factory(dispatch_, {"POST": {"outcome": "not_found"}}),
    "/hygiene/enrollments/<uuid:enrollment_id>": Factory(hygiene_enrollment),
    "/hygiene/enrollments/<uuid:enrollment_id>/end": Factory(
        hygiene_enrollment, {"POST": {"confirm": "yes"}}
    ),
    "/hygiene/visits/<uuid:visit_id>": Factory(hygiene_visit),
    "/hygiene/visits/<uuid:visit_id>/record": Factory(
        hygiene_visit, {"POST": {"outcome": "done", "met": "yes"}}
    ),
    "/referrals/<uuid:referral_id>": Factory(external_referral),
    "/referrals/<uuid:referral_id>/answer": Factory(
        external_referral, {"POST": {"answer": "accepted"}}
    ),
    "/referrals/<uuid:referral_id>/complete": Factory(external_referral, {"POST": {}}),
    "/incidents/<uuid:incident_id>": Factory(incident),
    # the console's kimchi pages and form
    "/kimchi/campaigns/<uuid:campaign_id>": Factory(kimchi_campaign),
    "/kimchi/routes/<uuid:route_id>": Factory(kimchi_route),
    "/kimchi/routes/<uuid:route_id>/sheet": Factory(kimchi_route),
    "/kimchi/allocations/<uuid:allocation_id>": Factory(kimchi_allocation),
    "/kimchi/allocations/<uuid:allocation_id>/attempts": Factory(
        kimchi_allocation, {"POST": {"outcome": "absent", "occurred_at": "2026-11-01T10:00"}}
    ),
}

# Routes with a record id that dong scope does not apply to, each with its reason.
NOT_DONG_SCOPED: dict[str, str] = {
    rule: "staff accounts are administered district-wide by admins; no resident data"
    for rule in (
        "/api/v1/staff/<uuid:staff_id>",
        "/api/v1/staff/<uuid:staff_id>/deactivate",
        "/api/v1/staff/<uuid:staff_id>/unlock",
        "/api/v1/staff/<uuid:staff_id>/tokens",
        "/api/v1/staff/<uuid:staff_id>/tokens/<uuid:token_id>",
        "/api/v1/staff/<uuid:staff_id>/totp/reset",
        # the console's admin pages over the same use cases
        "/admin/staff/<uuid:staff_id>",
        "/admin/staff/<uuid:staff_id>/deactivate",
        "/admin/staff/<uuid:staff_id>/unlock",
        "/admin/staff/<uuid:staff_id>/totp-reset",
        "/admin/staff/<uuid:staff_id>/tokens",
        "/admin/staff/<uuid:staff_id>/tokens/<uuid:token_id>/revoke",
    )
} | {
    "/api/v1/outbox/dead-letters/<uuid:message_id>/retry": (
        "the notification outbox is administered district-wide by admins; ids and codes only"
    ),
    "/api/v1/gateways/<uuid:gateway_id>/signal-rate": "a gateway's signal rhythm is configured "
    "district-wide by admins; no resident data",
    "/incidents/<uuid:incident_id>/signal-rate": "the console's form for the same use case, "
    "from the incident naming the gateway (admins see every incident); no resident data",
    "/admin/gateways/<uuid:gateway_id>/signal-rate": "the console's form for the same use case, "
    "from the gateway's account page; no resident data",
}


# Routes with a record id of the district as a whole, not of a dong and about nobody: any
# supervisor manages them, whatever their dongs, and they hold no resident data.
DISTRICT_WIDE: dict[str, str] = {
    rule: "the mobility center's fleet serves the whole district; no resident data"
    for rule in (
        "/api/v1/mobility/vehicles/<uuid:vehicle_id>",
        "/api/v1/mobility/drivers/<uuid:driver_id>",
    )
}


@dataclass(frozen=True, slots=True)
class OwnFactory:
    """How to name a record that belongs to one staff member (not to a dong): `make(app,
    owner)` makes one of `owner`'s and returns the path parameters naming it."""

    make: Callable[[Flask, Staff], Mapping[str, uuid.UUID]]
    bodies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def own_token(app: Flask, owner: Staff) -> Mapping[str, uuid.UUID]:
    _token, row = issue_cli_token(app, owner)
    return {"token_id": row.id}


# Routes with a record id that belongs to the caller's own account, scoped by owner instead of
# dong: anyone else's record answers 404 and is recorded, like a record of another dong.
OWN_RECORDS: dict[str, OwnFactory] = {
    "/api/v1/auth/tokens/<uuid:token_id>": OwnFactory(own_token),
}


def rules_with_a_record(app: Flask) -> set[str]:
    return {path for _, _, path in routes(app) if "<uuid:" in path}


def test_every_route_with_a_path_parameter_has_an_out_of_scope_factory(app: Flask) -> None:
    named = rules_with_a_record(app)
    covered = FACTORIES.keys() | NOT_DONG_SCOPED.keys() | OWN_RECORDS.keys() | DISTRICT_WIDE.keys()
    assert sorted(named - covered) == []
    assert sorted(covered - named) == []  # no stale entries


def test_exempt_routes_are_closed_to_every_role_that_works_with_residents(app: Flask) -> None:
    for endpoint, method, path in routes(app):
        if path in NOT_DONG_SCOPED:
            policy = policy_for(app, endpoint, method)
            assert isinstance(policy, Policy)
            assert not policy.public and not policy.roles & set(SCOPED_ROLES), (method, path)


def test_district_wide_routes_are_for_supervisors_only(app: Flask) -> None:
    """The fleet is managed by supervisors; no counselor or outreach worker changes it."""
    checked = set()
    for endpoint, method, path in routes(app):
        if path in DISTRICT_WIDE:
            policy = policy_for(app, endpoint, method)
            assert isinstance(policy, Policy)
            assert not policy.public and policy.roles == {Role.SUPERVISOR}, (method, path)
            checked.add(path)
    assert checked == set(DISTRICT_WIDE)


def denials(db: Database) -> int:
    with db.new_session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "access_denied")
            )
            or 0
        )


def concrete(path: str, params: Mapping[str, uuid.UUID]) -> str:
    for name, value in params.items():
        path = path.replace(f"<uuid:{name}>", str(value))
    assert "<" not in path, path
    return path


@pytest.fixture
def world(app: Flask, db: Database) -> World:
    return World(db=db, actor=make_staff(app, "counselor", (HOME,)).actor())


def test_staff_of_another_dong_get_404_on_every_route_that_names_a_record(
    app: Flask, db: Database, world: World
) -> None:
    callers = {role: log_in(app, make_staff(app, str(role), (ELSEWHERE,))) for role in SCOPED_ROLES}
    checked: list[tuple[str, str, str]] = []
    wrong: list[tuple[str, str, str, int]] = []
    for endpoint, method, rule in sorted(routes(app), key=lambda r: (r[2], r[1])):
        if rule not in FACTORIES:
            continue
        factory = FACTORIES[rule]
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        allowed = [role for role in SCOPED_ROLES if policy.allows(role)]
        assert allowed, f"{method} {rule}: no role that works with residents may call it"
        url = concrete(rule, factory.params(world))
        body = factory.bodies.get(method, {}) if method != "GET" else None
        for role in allowed:
            before = denials(db)
            sent: dict[str, Any] = {"json": body} if rule.startswith("/api/") else {"data": body}
            response = callers[role].open(url, method=method, headers={"If-Match": '"v1"'}, **sent)
            checked.append((role, method, rule))
            if response.status_code != 404 or denials(db) != before + 1:
                wrong.append((role, method, rule, response.status_code))
            assert "범위 밖" not in response.get_data(as_text=True)
    assert wrong == []
    assert {rule for _, _, rule in checked} == set(FACTORIES)
    assert len(checked) >= 40


def test_staff_get_404_on_every_route_that_names_someone_elses_own_record(
    app: Flask, db: Database
) -> None:
    owner = make_staff(app, "counselor", (HOME,))
    checked: list[tuple[str, str, str]] = []
    wrong: list[tuple[str, str, str, int]] = []
    for endpoint, method, rule in sorted(routes(app), key=lambda r: (r[2], r[1])):
        if rule not in OWN_RECORDS:
            continue
        policy = policy_for(app, endpoint, method)
        assert isinstance(policy, Policy)
        factory = OWN_RECORDS[rule]
        for role in sorted(policy.roles):
            # Another member of the same role and dong: only ownership tells them apart.
            caller = log_in(app, make_staff(app, str(role), (HOME,)))
            url = concrete(rule, factory.make(app, owner))
            before = denials(db)
            response = caller.open(url, method=method, json=factory.bodies.get(method))
            checked.append((str(role), method, rule))
            if response.status_code != 404 or denials(db) != before + 1:
                wrong.append((str(role), method, rule, response.status_code))
    assert wrong == []
    assert {rule for _, _, rule in checked} == set(OWN_RECORDS)
    with db.new_session() as s:
        assert all(t.revoked_at is None for t in s.scalars(select(ApiToken)))


def test_the_matrix_fails_for_a_new_route_without_a_factory(app: Flask) -> None:
    """A guard on the guard: a route added later is caught by the coverage check above."""
    blp_rule = "/api/v1/_test/widgets/<uuid:widget_id>"

    @app.get(blp_rule)
    def widget(widget_id: uuid.UUID) -> str:
        return str(widget_id)

    assert blp_rule in rules_with_a_record(app)
    assert blp_rule not in FACTORIES and blp_rule not in NOT_DONG_SCOPED
    with pytest.raises(AssertionError):
        test_every_route_with_a_path_parameter_has_an_out_of_scope_factory(app)


# Listings that take record ids in the query string (the OpenAPI document's `format: uuid` query
# parameters). Each gives the queries a caller of dong B might send naming dong A's records, and
# the caller must get none of dong A's records back, whatever it names.
@dataclass(frozen=True, slots=True)
class Listing:
    queries: Callable[[World], list[Mapping[str, str]]]


def this_month() -> str:
    return datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m")


def staff_of_a(w: World) -> str:
    assert w.actor.staff_id is not None
    return str(w.actor.staff_id)


LISTINGS: dict[str, Listing] = {
    "/api/v1/audit/events": Listing(
        lambda w: [
            {"resident_id": str(w.access_trail())},
            {"staff_id": staff_of_a(w)},
            {"action": "reveal"},
            {},
        ]
    ),
    # The monthly review takes no id, but it summarizes the same records: scoped the same way.
    "/api/v1/audit/review": Listing(lambda w: [{"month": this_month()}]),
    "/api/v1/followups": Listing(lambda w: [{"assignee": staff_of_a(w)}, {}]),
    "/api/v1/cases": Listing(lambda w: [{"assignee": staff_of_a(w)}, {}]),
    "/api/v1/ongi/enrollments": Listing(
        lambda w: (
            [{"resident_id": str(w.resident()), "status": "active"}, {}] if w.enrollment() else []
        )
    ),
}


def listings_with_an_id_in_the_query(app: Flask) -> set[str]:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    found = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method != "get" or not isinstance(operation, dict):
                continue
            if any(
                p.get("in") == "query" and p.get("schema", {}).get("format") == "uuid"
                for p in operation.get("parameters", [])
            ):
                found.add(re.sub(r"\{([a-z_]+)\}", r"<uuid:\1>", path))
    return found


def test_every_listing_with_an_id_in_its_query_has_an_out_of_scope_entry(app: Flask) -> None:
    assert sorted(listings_with_an_id_in_the_query(app) - LISTINGS.keys()) == []
    get_rules = {rule for _, method, rule in routes(app) if method == "GET"}
    assert sorted(LISTINGS.keys() - get_rules) == []  # no stale entries


def test_staff_of_another_dong_see_nothing_of_dong_a_in_any_listing(
    app: Flask, db: Database, world: World
) -> None:
    """Supervisors of dong B reviewing access records see neither dong A's records nor their
    reasons, whether they name dong A's resident, its staff member, or nothing at all."""
    world.case()
    world.access_trail()
    callers = {role: log_in(app, make_staff(app, str(role), (ELSEWHERE,))) for role in SCOPED_ROLES}
    markers = [str(world.resident()), staff_of_a(world), "범위 밖"]
    checked: list[tuple[str, str]] = []
    wrong: list[tuple[str, str, Mapping[str, str], int, list[str]]] = []
    endpoints = {rule: endpoint for endpoint, method, rule in routes(app) if method == "GET"}
    for rule, listing in sorted(LISTINGS.items()):
        policy = policy_for(app, endpoints[rule], "GET")
        assert isinstance(policy, Policy)
        allowed = [role for role in SCOPED_ROLES if policy.allows(role)]
        assert allowed, f"GET {rule}: no role that works with residents may call it"
        for role in allowed:
            for query in listing.queries(world):
                response = callers[role].get(rule, query_string=query)
                body = response.get_data(as_text=True)
                leaked = [m for m in markers if m in body]
                checked.append((role, rule))
                if response.status_code != 200 or leaked:
                    wrong.append((role, rule, query, response.status_code, leaked))
    assert wrong == []
    assert {rule for _, rule in checked} == set(LISTINGS)
