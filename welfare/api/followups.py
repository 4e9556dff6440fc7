"""The follow-up queue, scheduler runs and a resident's timeline; how follow-ups are raised and
escalated: docs/architecture.md, "How a tick flows"."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from services import followup_queue, timeline
from services import outbox as outbox_service
from services import scheduler_runs as runs
from services.residents.labels import ResidentLabel
from welfare.api.blueprint import Blueprint
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import AssigneeIn, PageArgs, StrictSchema, resident_field
from welfare.api.security import current_actor
from welfare.models import FollowUp, FollowUpReason, FollowUpState, Program, Role
from welfare.web import db_session, now

# Follow-ups of no program's case: the system's alarms, and partner referrals unanswered.
QUEUE_PROGRAMS = [p.value for p in Program] + ["system", "partner"]

blp = Blueprint(
    "followups", __name__, url_prefix="/api/v1", description="Follow-ups, scheduler runs, timelines"
)


class FollowUpArgs(PageArgs):
    state = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in FollowUpState])
    )
    reason = fields.String(
        load_default=None, validate=validate.OneOf([r.value for r in FollowUpReason])
    )
    dong = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))
    program = fields.String(load_default=None, validate=validate.OneOf(QUEUE_PROGRAMS))
    assignee = fields.UUID(load_default=None)
    overdue = fields.Boolean(
        load_default=None,
        metadata={
            "description": "true: past `due_at` (what was due and is not done); false: not yet"
        },
    )
    escalation_due = fields.Boolean(
        load_default=None,
        metadata={
            "description": "true: the next rung of the escalation ladder is due "
            "(`next_escalation_at` has passed); the tick escalates these at its next run"
        },
    )


class FollowUpOut(StrictSchema):
    id = fields.UUID()
    resident_id = fields.UUID(allow_none=True)
    program = fields.String()
    reason = fields.String()
    state = fields.String()
    step = fields.Integer()
    due_at = fields.DateTime()
    next_escalation_at = fields.DateTime(allow_none=True)
    assignee_id = fields.UUID(allow_none=True)
    raised_at = fields.DateTime()
    raised_by_run_id = fields.UUID(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    dong = fields.String(allow_none=True)
    risk_level = fields.String(allow_none=True)
    evidence = fields.Dict()
    incident_id = fields.UUID(
        allow_none=True,
        metadata={"description": "The incident it is grouped under (a silent gateway)"},
    )
    resident = resident_field()


class EventOut(StrictSchema):
    id = fields.UUID()
    at = fields.DateTime()
    kind = fields.String()
    step = fields.Integer()
    actor_staff_id = fields.UUID(allow_none=True)
    run_id = fields.UUID(allow_none=True)
    detail = fields.Dict()
    note = fields.String(allow_none=True)


class FollowUpDetail(FollowUpOut):
    events = fields.List(fields.Nested(EventOut))


class FollowUpList(StrictSchema):
    items = fields.List(fields.Nested(FollowUpOut))
    next_cursor = fields.String(allow_none=True)


class AssignIn(AssigneeIn):
    LEGACY = "staff_id"
    staff_id = fields.UUID(
        load_default=None, metadata={"description": "Older name of assignee_id (still accepted)"}
    )


class ResolveIn(StrictSchema):
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(followup_queue.RESOLUTION_OUTCOMES),
        metadata={
            "description": "confirmed_safe, hospitalized: someone reached the person; that "
            "contact is recorded with the resolution, so the lapse does not come back. "
            "The others close the work without reaching anyone: if there is still no contact, "
            "the next tick raises a new follow-up."
        },
    )
    channel = fields.String(
        load_default="phone",
        validate=validate.OneOf(followup_queue.REACHED_CHANNELS),
        metadata={"description": "How the person was reached (for confirmed_safe, hospitalized)"},
    )
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class RunOut(StrictSchema):
    id = fields.UUID()
    job = fields.String()
    as_of = fields.DateTime()
    node = fields.String()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    status = fields.String()
    counts = fields.Dict()
    error = fields.String(allow_none=True)


class RunList(StrictSchema):
    items = fields.List(fields.Nested(RunOut))
    next_cursor = fields.String(allow_none=True)


class RunArgs(PageArgs):
    job = fields.String(load_default=None, validate=validate.Length(max=60))


class TimelineEntry(StrictSchema):
    at = fields.DateTime()
    kind = fields.String(
        metadata={
            "description": "contact, followup_<event>, kimchi_allocated (outcome: the "
            "allocation's status), kimchi_delivery (outcome: the attempt's) or ride (outcome: "
            "the ride's state)"
        }
    )
    channel = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    followup_id = fields.UUID(allow_none=True)
    reason = fields.String(allow_none=True)
    step = fields.Integer(allow_none=True)
    staff_id = fields.UUID(allow_none=True)
    contact_id = fields.UUID(allow_none=True, metadata={"description": "GET /contacts/{id}"})
    program = fields.String(allow_none=True)
    note = fields.String(
        allow_none=True,
        metadata={
            "description": "A contact's note or a delivery's observation, for the roles that "
            "may read it"
        },
    )
    ride_id = fields.UUID(
        allow_none=True, metadata={"description": "A ride (its state is `outcome`)"}
    )


class TimelineOut(StrictSchema):
    items = fields.List(fields.Nested(TimelineEntry))


def followup_body(f: FollowUp, resident: ResidentLabel | None = None) -> dict[str, Any]:
    data = {k: getattr(f, k) for k in FollowUpOut._declared_fields if hasattr(f, k)}
    data["dong"] = f.dong_code
    data["resident"] = resident
    return data


@blp.route("/followups")
class FollowUps(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(FollowUpArgs, location="query")
    @blp.response(200, FollowUpList)
    def get(self, args: dict[str, Any]) -> Any:
        """Live follow-ups of the caller's dongs (or `state=`), oldest due first."""
        page = followup_queue.list_followups(db_session(), actor=current_actor(), now=now(), **args)
        return {
            "items": [followup_body(i.record, i.resident) for i in page.items],
            "next_cursor": page.next_cursor,
        }


@blp.route("/followups/<uuid:followup_id>")
class FollowUpItem(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, FollowUpDetail)
    def get(self, followup_id: uuid.UUID) -> Any:
        """One follow-up with its history: why it was raised and everything since."""
        followup, events = followup_queue.get_followup(
            db_session(), actor=current_actor(), followup_id=followup_id
        )
        return {
            **followup_body(followup.record, followup.resident),
            "events": [asdict(e) for e in events],
        }


@blp.route("/followups/<uuid:followup_id>/claim")
class FollowUpClaim(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, FollowUpOut)
    def post(self, followup_id: uuid.UUID) -> Any:
        """Take a follow-up on yourself."""
        return followup_body(
            followup_queue.claim(
                db_session(), actor=current_actor(), followup_id=followup_id, now=now()
            )
        )


@blp.route("/followups/<uuid:followup_id>/assign")
class FollowUpAssign(MethodView):
    @allow(Role.SUPERVISOR, Role.COUNSELOR)
    @blp.arguments(AssignIn)
    @blp.response(200, FollowUpOut)
    def post(self, payload: dict[str, Any], followup_id: uuid.UUID) -> Any:
        """Give a follow-up to a staff member of its dong."""
        return followup_body(
            followup_queue.assign(
                db_session(),
                actor=current_actor(),
                followup_id=followup_id,
                staff_id=payload["assignee_id"],
                now=now(),
            )
        )


@blp.route("/followups/<uuid:followup_id>/resolve")
class FollowUpResolve(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(ResolveIn)
    @blp.response(200, FollowUpOut)
    def post(self, payload: dict[str, Any], followup_id: uuid.UUID) -> Any:
        """Close a follow-up; if its cause persists, the next tick raises a new one."""
        return followup_body(
            followup_queue.resolve(
                db_session(), actor=current_actor(), followup_id=followup_id, now=now(), **payload
            )
        )


@blp.route("/scheduler/runs")
class SchedulerRuns(MethodView):
    @allow(Role.SUPERVISOR, Role.ADMIN)
    @blp.arguments(RunArgs, location="query")
    @blp.response(200, RunList)
    def get(self, args: dict[str, Any]) -> Any:
        """Every scheduler run, newest first: what it did and whether it worked."""
        page = runs.list_runs(
            db_session(), job=args["job"], cursor=args["cursor"], limit=args["limit"]
        )
        return {"items": page.items, "next_cursor": page.next_cursor}


class DeadLetterOut(StrictSchema):
    id = fields.UUID()
    kind = fields.String()
    idempotency_key = fields.String()
    payload = fields.Dict(metadata={"description": "ids and codes only, never personal data"})
    created_at = fields.DateTime()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_error = fields.String(allow_none=True)


class DeadLetterList(StrictSchema):
    items = fields.List(fields.Nested(DeadLetterOut))
    next_cursor = fields.String(allow_none=True)


@blp.route("/outbox/dead-letters")
class OutboxDeadLetters(MethodView):
    @allow(Role.ADMIN)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, DeadLetterList)
    def get(self, args: dict[str, Any]) -> Any:
        """Notifications that gave up (refused by the relay, or failed every attempt), newest
        first."""
        page = outbox_service.list_dead_letters(
            db_session(), cursor=args["cursor"], limit=args["limit"]
        )
        return {"items": page.items, "next_cursor": page.next_cursor}


@blp.route("/outbox/dead-letters/<uuid:message_id>/retry")
class OutboxDeadLetterRetry(MethodView):
    @allow(Role.ADMIN)
    @blp.response(200, DeadLetterOut)
    def post(self, message_id: uuid.UUID) -> Any:
        """Send a dead notification back to the queue, due now, with the same idempotency key."""
        return outbox_service.retry_dead_letter(db_session(), message_id, now=now())


@blp.route("/residents/<uuid:resident_id>/timeline")
class ResidentTimeline(MethodView):
    @allow(*CASEWORK)
    @blp.response(200, TimelineOut)
    def get(self, resident_id: uuid.UUID) -> Any:
        """Contacts, follow-up events and rides of one resident, newest first."""
        return {
            "items": timeline.resident_timeline(
                db_session(), actor=current_actor(), resident_id=resident_id
            )
        }
