"""Access records (접속기록) for supervisors and admins: the query and the monthly review.

Supervisors review their dongs' records, admins every record without resident content
(services/access.py `access_records_scope`, services/access_records.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from services import access_records
from welfare.api.blueprint import Blueprint
from welfare.api.policy import allow
from welfare.api.schemas import Instant, PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.models import AuditAction, Role
from welfare.web import db_session

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Access records")


class EventArgs(PageArgs):
    resident_id = fields.UUID(load_default=None)
    staff_id = fields.UUID(load_default=None)
    token_id = fields.UUID(load_default=None)
    action = fields.String(
        load_default=None, validate=validate.OneOf([a.value for a in AuditAction])
    )
    since = Instant(load_default=None)
    until = Instant(load_default=None)


class AuditEventOut(StrictSchema):
    id = fields.UUID()
    seq = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Its place in the keyed chain; null for a few seconds, until linked"
        },
    )
    at = fields.DateTime()
    staff_id = fields.UUID(allow_none=True)
    actor_role = fields.String()
    action = fields.String()
    resident_ids = fields.List(fields.String())
    resident_ids_withheld = fields.Integer(
        metadata={"description": "ids of residents outside the caller's dongs, not shown"}
    )
    outcome = fields.String()
    ip = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    reason_withheld = fields.Boolean(
        metadata={"description": "a reason exists but is resident content the caller may not see"}
    )
    category = fields.String()
    token_id = fields.UUID(
        allow_none=True, metadata={"description": "The API token the request came with"}
    )
    staff_name = fields.String(allow_none=True, metadata={"description": "Beside staff_id"})


class EventList(StrictSchema):
    items = fields.List(fields.Nested(AuditEventOut))
    next_cursor = fields.String(allow_none=True)


class ReviewArgs(StrictSchema):
    month = fields.String(
        required=True,
        # Years 1900-2999: a calendar month the review can bound on both sides (year 0 or
        # 9999-12 would overflow the date arithmetic).
        validate=validate.Regexp(r"^(19|2\d)\d{2}-(0[1-9]|1[0-2])$"),
        metadata={"example": "2026-11"},
    )


@blp.route("/events")
class Events(MethodView):
    @allow(Role.SUPERVISOR, Role.ADMIN)
    @blp.arguments(EventArgs, location="query")
    @blp.response(200, EventList)
    def get(self, args: dict[str, Any]) -> Any:
        """Access records in the caller's scope, newest first; resident ids only, never
        personal data. Supervisors: records by staff of their dongs and about residents of
        their dongs; admins: all, without reasons."""
        items, cursor = access_records.list_access_records(
            db_session(), actor=current_actor(), **args
        )
        return {"items": items, "next_cursor": cursor}


@blp.route("/review")
class Review(MethodView):
    @allow(Role.SUPERVISOR, Role.ADMIN)
    @blp.arguments(ReviewArgs, location="query")
    @blp.response(200)
    def get(self, args: dict[str, Any]) -> Any:
        """The monthly review over the caller's scope: volume outliers, out-of-hours access,
        denials, reveals, exports."""
        year, month = (int(part) for part in args["month"].split("-"))
        return access_records.review_month(
            db_session(), actor=current_actor(), month=date(year, month, 1)
        )
