"""Reference data: the dongs of the district."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from services import reference
from welfare.api.blueprint import Blueprint
from welfare.api.policy import ANY_STAFF, allow
from welfare.web import db_session

blp = Blueprint("reference", __name__, url_prefix="/api/v1", description="Reference data")


class DongOut(Schema):
    code = fields.String(metadata={"example": "1154551000"})
    name = fields.String(metadata={"example": "가산동"})
    name_en = fields.String(metadata={"example": "Gasan-dong"})


class DongList(Schema):
    items = fields.List(fields.Nested(DongOut))


@blp.route("/dongs")
class Dongs(MethodView):
    @allow(*ANY_STAFF)
    @blp.response(200, DongList)
    def get(self) -> Any:
        """The administrative dongs of Geumcheon-gu."""
        return {"items": reference.list_dongs(db_session())}
