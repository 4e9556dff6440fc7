"""Every value the console shows has its Korean label: a reason, state, program, channel or
outcome added to the models without one would show its English code to staff."""

from __future__ import annotations

from config.casework import load_workflows
from config.partners import SHEET_FIELDS
from services import followup_queue
from welfare.console import base, dispatch, hygiene, kimchi, mobility, partners
from welfare.models import (
    AllocationStatus,
    AttemptOutcome,
    CampaignStatus,
    CareOutcome,
    CareState,
    CareType,
    Channel,
    DispatchOutcome,
    DispatchState,
    FollowUpReason,
    FollowUpState,
    HygieneEnrollmentStatus,
    Program,
    RecipientRelation,
    ReferralState,
    RequesterKind,
    ResidentStatus,
    Role,
    RouteStatus,
    StopState,
    Urgency,
    VisitState,
)
from welfare.models.ongi import Outcome


def missing(labels: dict[str, str], values: object) -> set[str]:
    return {str(v) for v in values} - set(labels)  # type: ignore[attr-defined]


def test_every_followup_reason_has_a_korean_label() -> None:
    assert missing(base.REASONS, FollowUpReason) == set()
    assert all(label and not label.isascii() for label in base.REASONS.values())


def test_every_state_program_and_outcome_the_console_shows_has_a_label() -> None:
    assert missing(base.STATES, FollowUpState) == set()
    assert missing(base.PROGRAMS, Program) == set()
    assert missing(base.CHANNELS, Channel) == set()
    assert missing(base.CONTACT_OUTCOMES, Outcome) == set()
    assert missing(base.OUTCOMES, followup_queue.RESOLUTION_OUTCOMES) == set()
    assert missing(base.ROLES, Role) == set()
    assert missing(base.RESIDENT_STATUSES, ResidentStatus) == set()
    assert missing(base.CARE_STATES, CareState) == set()
    assert missing(base.CARE_TYPES, CareType) == set()
    assert missing(base.URGENCIES, Urgency) == set()
    assert missing(base.CARE_OUTCOMES, CareOutcome) == set()
    assert missing(mobility.RIDE_STATES, base.RIDES) == set()


def test_every_kimchi_status_and_outcome_has_a_label() -> None:
    assert missing(kimchi.CAMPAIGN_STATUSES, CampaignStatus) == set()
    assert missing(kimchi.ALLOCATION_STATUSES, AllocationStatus) == set()
    assert missing(kimchi.ROUTE_STATUSES, RouteStatus) == set()
    assert missing(kimchi.STOP_STATES, StopState) == set()
    assert missing(kimchi.ATTEMPT_OUTCOMES, AttemptOutcome) == set()
    assert missing(kimchi.RELATIONS, RecipientRelation) == set()


def test_every_state_and_outcome_of_the_district_plans_services_has_a_label() -> None:
    assert missing(dispatch.STATES, DispatchState) == set()
    assert missing(dispatch.OUTCOMES, DispatchOutcome) == set()
    assert missing(dispatch.REQUESTERS, RequesterKind) == set()
    assert missing(hygiene.ENROLLMENT_STATUSES, HygieneEnrollmentStatus) == set()
    assert missing(hygiene.VISIT_STATES, VisitState) == set()
    assert missing(partners.STATES, ReferralState) == set()
    # what the services record when the work resolves itself, shown on a follow-up's page
    automatic = [f"done_{o}" for o in DispatchOutcome] + ["visit_done", "visit_refused"]
    assert missing(base.OUTCOMES, automatic) == set()


def test_every_field_a_referral_sheet_may_carry_has_a_label() -> None:
    """The referral form lists, under each consent scope, the fields that leave."""
    assert set(partners.SHEET_FIELDS) == set(SHEET_FIELDS)
    assert all(not label.isascii() for label in partners.SHEET_FIELDS.values())


def test_every_case_status_of_every_workflow_has_a_label() -> None:
    """Case pages, the cases queue and the referral form's case picker name a case's status."""
    statuses = {s for w in load_workflows().values() for s in w.statuses}
    assert missing(base.CASE_STATUSES, statuses) == set()
