"""Shared schema pieces: strict base schema, pagination, staff summaries and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate


def plain_text(value: Any) -> None:
    """Text every layer can store: PostgreSQL text cannot hold NUL, and UTF-8 cannot encode the
    lone surrogates a JSON string may spell ("\\ud800")."""
    if not isinstance(value, str):
        return  # a String subclass that deserializes to something else (UUID)
    if "\x00" in value:
        raise ValidationError("NUL 문자는 쓸 수 없습니다 (NUL character not allowed)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            "올바른 유니코드 문자열이 아닙니다 (lone surrogate: not valid Unicode text)"
        ) from None


class Instant(fields.AwareDateTime):
    """An ISO-8601 time with an offset (API.md), loaded as UTC. A time whose UTC equivalent is
    outside Python's range (year 1 ahead of UTC, year 9999 behind it) is refused here instead of
    overflowing wherever it would first be converted (a comparison, a column)."""

    default_error_messages = {  # noqa: RUF012 - marshmallow declares it; a ClassVar would clash
        "out_of_range": "UTC로 나타낼 수 없는 시각입니다 (no UTC equivalent in range)"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        instant = super()._deserialize(value, attr, data, **kwargs)
        try:
            return instant.astimezone(UTC)
        except OverflowError:
            raise self.make_error("out_of_range") from None


class StrictSchema(Schema):
    """Inputs refuse unknown fields, so owner, role and state can never be mass-assigned; every
    text field, in a list or not, refuses what no column or cipher can take (`plain_text`)."""

    class Meta:
        unknown = RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        super().on_bind_field(field_name, field_obj)
        for field in (field_obj, getattr(field_obj, "inner", None)):
            # A bound field is a shallow copy sharing its validators list with the declared
            # one: give it a new list, once, rather than append to the shared one.
            if isinstance(field, fields.String) and plain_text not in field.validators:
                field.validators = [*field.validators, plain_text]


class PageArgs(StrictSchema):
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class StaffSummary(Schema):
    id = fields.UUID()
    username = fields.String()
    role = fields.String()
    dongs = fields.List(fields.String())


class TokenOut(StrictSchema):
    """An API token as admins and its owner see it: never its secret, except `token` once."""

    id = fields.UUID()
    prefix = fields.String()
    label = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    issued_by = fields.UUID(
        allow_none=True, metadata={"description": "The issuing staff member; null: the CLI"}
    )
    issued_via = fields.String(metadata={"description": "admin, self, cli or legacy"})
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    token = fields.String(metadata={"description": "Shown once, at creation"})


class TokenList(StrictSchema):
    items = fields.List(fields.Nested(TokenOut))


def token_body(token: Any, plaintext: str | None = None) -> dict[str, Any]:
    body = {
        name: getattr(token, name)
        for name in (
            "id",
            "prefix",
            "label",
            "created_at",
            "expires_at",
            "issued_by",
            "issued_via",
            "last_used_at",
            "revoked_at",
        )
    }
    if plaintext is not None:
        body["token"] = plaintext
    return body
