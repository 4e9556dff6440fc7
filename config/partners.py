"""Partner agencies and consent scopes for external referrals: `config/partners.json`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from config.jsonfiles import (
    expect_code,
    expect_fields,
    expect_list,
    expect_text,
    fail,
    read_object,
)
from config.reference import REFERENCE_DIR

PARTNERS_FILE: Final = REFERENCE_DIR / "partners.json"
KINDS: Final = (
    "health_center",
    "health_branch",
    "welfare_foundation",
    "community_welfare_center",
    "hygiene_provider",  # carries out the elder health & hygiene visits (config/hygiene.json)
)
# The resident fields a referral sheet may carry; a consent scope names some of them.
SHEET_FIELDS: Final = ("name", "phone", "address", "birth_year", "sex")


@dataclass(frozen=True, slots=True)
class Partner:
    code: str
    name: str
    name_en: str
    kind: str
    parent: str | None = None
    available_from: date | None = None

    def open_on(self, day: date) -> bool:
        """Whether referrals may be sent to this partner on `day` (a date in Seoul)."""
        return self.available_from is None or day >= self.available_from


@dataclass(frozen=True, slots=True)
class ConsentScope:
    code: str
    label: str
    label_en: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PartnerBook:
    partners: dict[str, Partner]
    scopes: dict[str, ConsentScope]
    answer_business_days: int


def load_partners(path: Path | None = None) -> PartnerBook:
    path = path or PARTNERS_FILE
    raw = expect_fields(
        path, "top level", read_object(path), {"answer_business_days", "consent_scopes", "partners"}
    )
    days = raw["answer_business_days"]
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        fail(path, "answer_business_days", f"must be a whole number >= 1, not {days!r}")
    scopes: dict[str, ConsentScope] = {}
    for index, entry in enumerate(expect_list(path, "consent_scopes", raw["consent_scopes"])):
        where = f"consent_scopes[{index}]"
        item = expect_fields(path, where, entry, {"code", "label", "label_en", "fields"})
        code = expect_code(path, where, item["code"])
        if code in scopes:
            fail(path, where, "duplicate consent scope code")
        fields = expect_list(path, f"{where} fields", item["fields"])
        unknown = [f for f in fields if f not in SHEET_FIELDS]
        if unknown or not fields:
            fail(path, where, f"fields must be some of {', '.join(SHEET_FIELDS)}")
        scopes[code] = ConsentScope(
            code=code,
            label=expect_text(path, where, "label", item["label"]),
            label_en=expect_text(path, where, "label_en", item["label_en"]),
            fields=tuple(str(f) for f in fields),
        )
    partners: dict[str, Partner] = {}
    for index, entry in enumerate(expect_list(path, "partners", raw["partners"])):
        where = f"partners[{index}]"
        item = expect_fields(
            path,
            where,
            entry,
            {"code", "name", "name_en", "kind"},
            optional={"parent", "available_from"},
        )
        code = expect_code(path, where, item["code"])
        if code in partners:
            fail(path, where, "duplicate partner code")
        if item["kind"] not in KINDS:
            fail(path, where, f"unknown kind {item['kind']!r}; known: {', '.join(KINDS)}")
        parent = item.get("parent")
        if parent is not None and parent not in partners:
            fail(path, where, f"parent {parent!r} must be listed before it")
        opens = item.get("available_from")
        try:
            available_from = date.fromisoformat(opens) if opens is not None else None
        except (TypeError, ValueError):
            fail(path, where, f"available_from must be a date (YYYY-MM-DD), not {opens!r}")
        partners[code] = Partner(
            code=code,
            name=expect_text(path, where, "name", item["name"]),
            name_en=expect_text(path, where, "name_en", item["name_en"]),
            kind=item["kind"],
            parent=parent,
            available_from=available_from,
        )
    if not partners or not scopes:
        fail(path, "top level", "needs at least one partner and one consent scope")
    return PartnerBook(partners=partners, scopes=scopes, answer_business_days=days)
