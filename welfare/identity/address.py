"""Addresses in one normal form, so that one household written two ways is one household.

The kimchi campaign gives one box per household; a household is identified by a keyed blind
index of its normalized address (services/kimchi/households.py). Agencies type the same address
differently: "서울특별시 금천구 가산로 5, 101호" and "서울 금천구 가산로 5 101호" are one door. The
normal form is:

- NFC, with full-width forms folded to ASCII (０-９ → 0-9, the ideographic space);
- the district prefix dropped in its common spellings: 서울특별시, 서울시 or 서울, then 금천구
  (every household of this system is in Geumcheon-gu), and a bare leading 금천구;
- a trailing reference in parentheses, "(가산동)" or "(가산동, 금천아파트)", dropped: it repeats
  what the road address says;
- every dash spelling as "-", with no spaces around it (5-1, 5 - 1);
- whitespace and punctuation folded: a separator survives only as one space between two digits
  ("5 101호" stays apart from "51 01호"); everywhere else it goes ("가산로 5" = "가산로5");
- ASCII letters lowercased ("A동" = "a동").

Pure function: no Flask, no database, nothing logged.
"""

from __future__ import annotations

import re
import unicodedata

from welfare.identity.fullwidth import fold_fullwidth

MAX_ADDRESS_LENGTH = 200

_DASHES = re.compile(r"\s*[\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]\s*")
_CITY = r"(?:서울특별시|서울특별|서울시|서울)"
_PREFIX = re.compile(rf"^(?:{_CITY}\s*)?금천구\s*")
_TRAILING_REFERENCE = re.compile(r"\s*\([^()]*\)\s*$")
# Whitespace and punctuation other than the dash (which is kept between numbers).
_SEPARATORS = re.compile(r"[\s,.;:·/\\#()\[\]{}'\"`~!?*_+=|<>]+")


def normalize_address(raw: str) -> str:
    """The normal form of an address (see the module docstring); "" for a blank one."""
    text = fold_fullwidth(unicodedata.normalize("NFC", raw)).strip()
    text = _PREFIX.sub("", text, count=1)
    text = _TRAILING_REFERENCE.sub("", text)
    text = _DASHES.sub("-", text)
    parts = [p for p in _SEPARATORS.split(text) if p]
    folded = ""
    for part in parts:
        if folded and folded[-1].isdigit() and part[0].isdigit():
            folded += " "
        folded += part
    return folded.lower()
