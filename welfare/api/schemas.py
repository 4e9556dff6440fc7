"""Shared schema pieces: strict base schema, pagination, staff summaries and API tokens."""

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


# Korean first, then marshmallow's own English (kept after it, with its placeholders), for every
# stock field message a client can meet. Keys are marshmallow's error keys.
KOREAN_FIELD_MESSAGES: dict[str, str] = {
    "required": "필수 항목입니다",
    "null": "비워 둘 수 없습니다",
    "validator_failed": "올바르지 않은 값입니다",
    "invalid_uuid": "올바른 UUID가 아닙니다",
    "invalid_utf8": "올바른 UTF-8 문자열이 아닙니다",
    "invalid_awareness": "시간대(예: +09:00)가 있는 시각이어야 합니다",
    "format": "형식이 맞지 않습니다",
    "too_large": "숫자가 너무 큽니다",
    "special": "숫자가 아닌 값(NaN, 무한대)은 쓸 수 없습니다",
    "type": "형식이 맞지 않습니다",
}
KOREAN_INVALID_BY_TYPE: tuple[tuple[type[fields.Field[Any]], str], ...] = (
    (fields.Boolean, "참/거짓(true 또는 false)이어야 합니다"),
    (fields.Integer, "정수여야 합니다"),
    (fields.Number, "숫자여야 합니다"),
    (fields.AwareDateTime, "시각은 2026-11-24T09:00:00+09:00 같은 ISO-8601 형식이어야 합니다"),
    (fields.DateTime, "시각은 2026-11-24T09:00:00+09:00 같은 ISO-8601 형식이어야 합니다"),
    (fields.Date, "날짜는 2026-11-24 형식이어야 합니다"),
    (fields.List, "목록이어야 합니다"),
    (fields.Mapping, "객체여야 합니다"),
    (fields.String, "문자열이어야 합니다"),
)
KOREAN_VALIDATOR_MESSAGES: dict[tuple[type[Any], str], str] = {
    (validate.OneOf, "error"): "다음 중 하나여야 합니다: {choices}",
    (validate.Regexp, "error"): "형식이 맞지 않습니다",
    (validate.Length, "message_min"): "길이가 {min} 이상이어야 합니다",
    (validate.Length, "message_max"): "길이가 {max} 이하여야 합니다",
    (validate.Length, "message_all"): "길이가 {min}~{max}여야 합니다",
    (validate.Length, "message_equal"): "길이가 {equal}여야 합니다",
}
# Range formats its operator into its messages when it is made; the Korean follows it.
KOREAN_RANGE = {
    ("message_min", True): "값이 {min} 이상이어야 합니다",
    ("message_min", False): "값이 {min}보다 커야 합니다",
    ("message_max", True): "값이 {max} 이하여야 합니다",
    ("message_max", False): "값이 {max}보다 작아야 합니다",
    ("message_all", True): "값이 {min}~{max} 사이여야 합니다",
    ("message_all", False): "값이 {min}~{max} 사이여야 합니다(양 끝 제외)",
}


def _korean_first(korean: str, english: str) -> str:
    return english if english.startswith(korean) else f"{korean} ({english})"


def korean_field_messages(field: fields.Field[Any]) -> None:
    """Put the Korean message first on a bound field and on its validators (once: a message
    that already starts with its Korean text is left as it is)."""
    messages = dict(field.error_messages)
    invalid = next((k for t, k in KOREAN_INVALID_BY_TYPE if isinstance(field, t)), None)
    for key, english in messages.items():
        korean = invalid if key == "invalid" else KOREAN_FIELD_MESSAGES.get(key)
        if korean is not None and isinstance(english, str):
            messages[key] = _korean_first(korean, english)
    field.error_messages = messages
    for validator in field.validators:
        # Validators may be shared module constants; setting them again changes nothing.
        for (kind, attribute), korean in KOREAN_VALIDATOR_MESSAGES.items():
            current = getattr(validator, attribute, None)
            stock = getattr(kind, "default_message" if attribute == "error" else attribute, None)
            # Only marshmallow's own English: a message a schema wrote itself stays as written.
            if isinstance(validator, kind) and isinstance(current, str) and current == stock:
                setattr(validator, attribute, _korean_first(korean, current))
        if isinstance(validator, validate.Range):
            for attribute in ("message_min", "message_max", "message_all"):
                side = validator.max_inclusive if attribute == "message_max" else None
                inclusive = validator.min_inclusive if side is None else side
                message = str(getattr(validator, attribute))
                setattr(
                    validator, attribute, _korean_first(KOREAN_RANGE[attribute, inclusive], message)
                )


class StrictSchema(Schema):
    """Inputs refuse unknown fields, so owner, role and state can never be mass-assigned; every
    text field, in a list or not, refuses what no column or cipher can take (`plain_text`)."""

    class Meta:
        unknown = RAISE

    error_messages = {  # noqa: RUF012 - marshmallow declares it; a ClassVar would clash
        "unknown": "알 수 없는 항목입니다 (unknown field)",
        "type": "객체(JSON object)여야 합니다 (invalid input type)",
    }

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        super().on_bind_field(field_name, field_obj)
        for field in (field_obj, getattr(field_obj, "inner", None)):
            if isinstance(field, fields.Field):
                korean_field_messages(field)
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


class HistoryEventOut(StrictSchema):
    """One entry of a dispatch's or a referral's history: codes, states and staff ids only."""

    at = fields.DateTime()
    kind = fields.String()
    actor_staff_id = fields.UUID(allow_none=True)
    detail = fields.Dict(metadata={"description": "The state after it, and what changed"})


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
