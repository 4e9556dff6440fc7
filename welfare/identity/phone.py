"""Korean phone numbers: one stored form (E.164, +82…), displayed with hyphens.

Mobile 010 (and legacy 011/016-019), Seoul 02, area codes 031-064, and 070 internet phones.
Input may carry spaces, hyphens, dots, parentheses, +82 or 82 (with or without the trunk 0),
and full-width digits.
"""

from __future__ import annotations

import re
import unicodedata

from welfare.identity.errors import IdentityError

MOBILE = frozenset({"10", "11", "16", "17", "18", "19"})
AREA = frozenset(
    {"31", "32", "33", "41", "42", "43", "44", "51", "52", "53", "54", "55", "61", "62", "63", "64"}
)
_NOISE = re.compile(r"[\s\-.()\u00a0]")


def _bad() -> IdentityError:
    return IdentityError("phone_format", "전화번호 형식이 올바르지 않습니다 (invalid phone number)")


def _national(raw: str) -> str:
    """The national significant number (without the trunk 0)."""
    text = _NOISE.sub("", unicodedata.normalize("NFKC", raw))
    text = text.replace("(0)", "")
    if text.startswith("+82"):
        text = text[3:]
    elif text.startswith("0082"):
        text = text[4:]
    elif text.startswith("82") and not text.startswith("820") and len(text) >= 10:
        text = text[2:]
    if not text.isdigit():
        raise _bad()
    return text.removeprefix("0")


def _split(national: str) -> tuple[str, str, str]:
    """(prefix, middle, last four) of a valid national number, or an error."""
    if national.startswith("2"):
        prefix, rest = "2", national[1:]
    elif national[:2] in MOBILE or national[:2] in AREA or national[:2] == "70":
        prefix, rest = national[:2], national[2:]
    else:
        raise _bad()
    if prefix == "10":
        if len(rest) != 8:
            raise _bad()
    elif len(rest) not in (7, 8):
        raise _bad()
    if rest[0] == "0":
        raise _bad()
    return prefix, rest[:-4], rest[-4:]


def normalize_phone(raw: str) -> str:
    """E.164, e.g. '+821012345678'."""
    national = _national(raw)
    _split(national)
    return "+82" + national


def format_phone(e164: str) -> str:
    """Domestic display form: '010-1234-5678', '02-123-4567', '031-123-4567'."""
    if not e164.startswith("+82"):
        raise _bad()
    prefix, middle, last = _split(e164[3:])
    return f"0{prefix}-{middle}-{last}"
