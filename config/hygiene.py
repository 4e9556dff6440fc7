"""Elder health & hygiene visits: services and timing, `config/hygiene.json`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from config.jsonfiles import (
    expect_code,
    expect_fields,
    expect_list,
    expect_positive,
    expect_text,
    fail,
    read_object,
)
from config.reference import REFERENCE_DIR

HYGIENE_FILE: Final = REFERENCE_DIR / "hygiene.json"


@dataclass(frozen=True, slots=True)
class HygieneRules:
    services: dict[str, str]  # code -> Korean label
    schedule_ahead: timedelta
    missed_after: timedelta


def load_hygiene(path: Path | None = None) -> HygieneRules:
    path = path or HYGIENE_FILE
    raw = expect_fields(
        path,
        "top level",
        read_object(path),
        {"schedule_days", "missed_after_hours", "services"},
    )
    services: dict[str, str] = {}
    for index, entry in enumerate(expect_list(path, "services", raw["services"])):
        where = f"services[{index}]"
        item = expect_fields(path, where, entry, {"code", "label", "label_en"})
        code = expect_code(path, where, item["code"])
        if code in services:
            fail(path, where, "duplicate service code")
        services[code] = expect_text(path, where, "label", item["label"])
        expect_text(path, where, "label_en", item["label_en"])
    if not services:
        fail(path, "services", "at least one service")
    return HygieneRules(
        services=services,
        schedule_ahead=timedelta(days=expect_positive(path, "top level", "schedule_days", raw)),
        missed_after=timedelta(hours=expect_positive(path, "top level", "missed_after_hours", raw)),
    )
