"""Reference data shipped as files (dongs), read without touching the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class DongRecord:
    code: str
    name: str
    name_en: str


def load_dongs(path: Path | None = None) -> list[DongRecord]:
    """The administrative dongs of Geumcheon-gu as listed in config/dongs.json."""
    raw = json.loads((path or REFERENCE_DIR / "dongs.json").read_text(encoding="utf-8"))
    return [DongRecord(code=d["code"], name=d["name"], name_en=d["name_en"]) for d in raw]
