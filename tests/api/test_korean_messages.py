"""Every field error a client can meet is Korean first, with the English after it, including
marshmallow's stock messages (required, unknown field, wrong type, not one of, too long...)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from marshmallow import Schema, fields, validate

import welfare.api
from welfare.api.schemas import StrictSchema

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def korean_first(message: str) -> bool:
    """Korean text first, then the English in parentheses."""
    korean, _, english = message.partition(" (")
    return bool(HANGUL.search(korean)) and bool(english) and not HANGUL.search(english[:3])


def every_schema() -> list[type[Schema]]:
    for module in pkgutil.iter_modules(welfare.api.__path__):
        importlib.import_module(f"welfare.api.{module.name}")
    found: list[type[Schema]] = []
    pending = [StrictSchema]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def bound_fields(schema: Schema) -> list[fields.Field[Any]]:
    out = []
    for field in schema.fields.values():
        out.append(field)
        inner = getattr(field, "inner", None)
        if isinstance(inner, fields.Field):
            out.append(inner)
    return out


@pytest.mark.parametrize("cls", every_schema(), ids=lambda c: c.__qualname__)
def test_every_field_message_of_every_input_schema_is_korean_first(cls: type[Schema]) -> None:
    schema = cls()
    for field in bound_fields(schema):
        for key, message in field.error_messages.items():
            if isinstance(message, str):
                assert korean_first(message), (cls.__qualname__, field.name, key, message)
        for validator in field.validators:
            for attribute in ("error", "message_min", "message_max", "message_all"):
                message = getattr(validator, attribute, None)
                if (
                    isinstance(message, str)
                    and isinstance(
                        validator,
                        validate.OneOf | validate.Length | validate.Range | validate.Regexp,
                    )
                    and (attribute != "error" or message)
                ):
                    assert korean_first(message), (cls.__qualname__, field.name, message)
    for key, message in schema.error_messages.items():
        assert korean_first(message), (cls.__qualname__, key, message)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dong": "1154551000", "rrn": "900101-1234568"}, "name"),  # missing
        ({"name": "이순자", "rrn": 5, "dong": "1154551000"}, "rrn"),  # wrong type
        ({"name": "이순자", "rrn": "900101-1234568", "dong": "1154551000", "x": 1}, "x"),
        ({"name": "", "rrn": "900101-1234568", "dong": "1154551000"}, "name"),  # too short
        (
            {
                "name": "이순자",
                "rrn": "900101-1234568",
                "dong": "1154551000",
                "household_type": "?",
            },
            "household_type",
        ),
    ],
)
def test_a_bad_registration_answers_korean_first_field_errors(
    login_as: Any, body: dict[str, Any], field: str
) -> None:
    response = login_as("counselor").post("/api/v1/residents", json=body)
    assert response.status_code == 422
    (message,) = response.get_json()["errors"][field]
    assert korean_first(message), message


def test_a_naive_time_answers_a_korean_first_error(login_as: Any) -> None:
    response = login_as("outreach").post(
        "/api/v1/contacts",
        json={
            "resident_id": "00000000-0000-4000-8000-000000000000",
            "channel": "phone",
            "outcome": "reached",
            "occurred_at": "2026-11-24T09:00:00",
        },
    )
    assert response.status_code == 422
    (message,) = response.get_json()["errors"]["occurred_at"]
    assert korean_first(message) and "aware" in message
