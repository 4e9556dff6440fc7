"""The team directory (`/api/v1/team`): colleagues of my dongs, to assign work to by name."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from services import team
from welfare.api.blueprint import Blueprint
from welfare.api.policy import CASEWORK, allow
from welfare.api.schemas import PageArgs, StrictSchema
from welfare.api.security import current_actor
from welfare.web import db_session

blp = Blueprint("team", __name__, url_prefix="/api/v1", description="The team directory")


class TeamArgs(PageArgs):
    dong = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))
    role = fields.String(load_default=None, validate=validate.OneOf(team.CASEWORK_ROLES))


class ColleagueOut(StrictSchema):
    id = fields.UUID(metadata={"description": "Use as assignee_id"})
    name = fields.String()
    role = fields.String()
    dongs = fields.List(fields.String(), metadata={"description": "The dongs you share"})


class TeamList(StrictSchema):
    items = fields.List(fields.Nested(ColleagueOut))
    next_cursor = fields.String(allow_none=True)


@blp.route("/team")
class Team(MethodView):
    @allow(*CASEWORK)
    @blp.arguments(TeamArgs, location="query")
    @blp.response(200, TeamList)
    def get(self, args: dict[str, Any]) -> Any:
        """Colleagues who share a dong with you, by name: whom to assign work to."""
        page = team.directory(db_session(), actor=current_actor(), **args)
        return {"items": [asdict(c) for c in page.items], "next_cursor": page.next_cursor}
