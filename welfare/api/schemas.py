"""Shared schema pieces: strict base schema, pagination and staff summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)


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
    """An ISO-8601 time with an offset, loaded as UTC (docs/architecture.md, "The HTTP interface").
    A time whose UTC equivalent is outside Python's range (year 1 ahead of UTC, year 9999 behind
    it) is refused here instead of overflowing wherever it would first be converted (a comparison,
    a column)."""

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

    error_messages = {  # noqa: RUF012 - marshmallow declares it; a ClassVar would clash
        "unknown": "알 수 없는 항목입니다 (unknown field)"
    }

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        super().on_bind_field(field_name, field_obj)
        for field in (field_obj, getattr(field_obj, "inner", None)):
            # A bound field is a shallow copy sharing its validators list with the declared
            # one: give it a new list, once, rather than append to the shared one.
            if isinstance(field, fields.String) and plain_text not in field.validators:
                field.validators = [*field.validators, plain_text]


class AssigneeIn(StrictSchema):
    """Whom the work goes to. One name across the API, `assignee_id` (as the responses call it);
    a subclass may accept an older name too (`LEGACY`) where outside clients already send it."""

    LEGACY: ClassVar[str | None] = None
    assignee_id = fields.UUID(
        load_default=None, metadata={"description": "The staff member this goes to"}
    )

    @validates_schema
    def one_assignee(self, data: dict[str, Any], **_kwargs: Any) -> None:
        given = {data.get("assignee_id"), data.get(self.LEGACY) if self.LEGACY else None} - {None}
        if not given:
            raise ValidationError(
                ["담당 직원을 지정하세요 (assignee_id is required)"], field_name="assignee_id"
            )
        if len(given) > 1:
            raise ValidationError(
                [f"assignee_id와 {self.LEGACY}가 다릅니다 (assignee_id and {self.LEGACY} differ)"],
                field_name="assignee_id",
            )

    @post_load
    def unify(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        legacy = data.pop(self.LEGACY, None) if self.LEGACY else None
        data["assignee_id"] = data.get("assignee_id") or legacy
        return data


class PageArgs(StrictSchema):
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ResidentLabelOut(Schema):
    """Who a queue item is about: enough to recognise and call them, never the RRN."""

    id = fields.UUID()
    name = fields.String(allow_none=True)
    birth_year = fields.Integer()
    sex = fields.String()
    dong = fields.String()
    status = fields.String()
    phone_masked = fields.String(allow_none=True, metadata={"example": "010-****-5678"})
    unreadable = fields.Boolean(
        metadata={"description": "true when the stored name or phone failed to decrypt"}
    )


def resident_field() -> fields.Nested:
    return fields.Nested(
        ResidentLabelOut,
        allow_none=True,
        metadata={"description": "The resident (display name, masked details), when there is one"},
    )


class StaffSummary(Schema):
    id = fields.UUID()
    username = fields.String()
    role = fields.String()
    dongs = fields.List(fields.String())
