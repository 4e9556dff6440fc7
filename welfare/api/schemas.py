"""Shared schema pieces: strict base schema, pagination and staff summaries."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class StrictSchema(Schema):
    """Inputs refuse unknown fields, so owner, role and state can never be mass-assigned."""

    class Meta:
        unknown = RAISE


class PageArgs(StrictSchema):
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class StaffSummary(Schema):
    id = fields.UUID()
    username = fields.String()
    role = fields.String()
    dongs = fields.List(fields.String())
