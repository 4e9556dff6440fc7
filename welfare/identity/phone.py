"""Korean telephone numbers: stored in one form, E.164 (`+8210…`), shown with domestic hyphens.

One stored form lets a caller-ID lookup or a duplicate check compare strings; the hyphenated
domestic form (`010-1234-5678`, `02-123-4567`) is what staff read and dial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from welfare.identity.errors import IdentityError
from welfare.identity.fullwidth import fold_fullwidth

COUNTRY_CODE = "82"
TRUNK_PREFIX = "0"  # dialled before the prefix inside Korea, dropped after +82


class _LineKind(StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"
    INTERNET = "internet"


@dataclass(frozen=True, slots=True)
class _Prefix:
    kind: _LineKind
    subscriber_lengths: tuple[int, ...]  # digits after the prefix


_LANDLINE = _Prefix(_LineKind.LANDLINE, (7, 8))  # XXX-XXXX or XXXX-XXXX

# Prefixes as they follow the trunk 0 (the "10" of 010). No prefix begins another, so a number
# matches at most one row.
_PREFIXES = MappingProxyType(
    {
        # 010 numbers have had a four-digit middle part since number integration began in 2004.
        "10": _Prefix(_LineKind.MOBILE, (8,)),
        # Legacy mobile prefixes (01X) still in use, with a three- or four-digit middle part.
        "11": _Prefix(_LineKind.MOBILE, (7, 8)),
        "16": _Prefix(_LineKind.MOBILE, (7, 8)),
        "17": _Prefix(_LineKind.MOBILE, (7, 8)),
        "18": _Prefix(_LineKind.MOBILE, (7, 8)),
        "19": _Prefix(_LineKind.MOBILE, (7, 8)),
        "70": _Prefix(_LineKind.INTERNET, (8,)),  # 인터넷전화
        "2": _LANDLINE,  # 서울
        "31": _LANDLINE,  # 경기
        "32": _LANDLINE,  # 인천
        "33": _LANDLINE,  # 강원
        "41": _LANDLINE,  # 충남
        "42": _LANDLINE,  # 대전
        "43": _LANDLINE,  # 충북
        "44": _LANDLINE,  # 세종
        "51": _LANDLINE,  # 부산
        "52": _LANDLINE,  # 울산
        "53": _LANDLINE,  # 대구
        "54": _LANDLINE,  # 경북
        "55": _LANDLINE,  # 경남
        "61": _LANDLINE,  # 전남
        "62": _LANDLINE,  # 광주
        "63": _LANDLINE,  # 전북
        "64": _LANDLINE,  # 제주
    }
)

# What people put between digit groups. Besides ASCII, the Unicode hyphens and dashes that word
# processors substitute for "-" when a number is pasted from a document.
_SEPARATORS = frozenset("-.()\u2010\u2011\u2012\u2013\u2212")

# After separators are removed: an optional "+" and ASCII digits (`\d` would accept any
# script's digits).
_DIGITS_PATTERN = re.compile(r"(\+?)([0-9]+)")
_E164_PATTERN = re.compile(r"\+82([0-9]+)")

_FORMAT_MESSAGE = (
    "전화번호 형식이 올바르지 않습니다. 휴대전화, 지역번호를 포함한 일반전화, 인터넷전화 번호를 "
    "입력하세요 (not a Korean mobile, landline or internet phone number)"
)


def normalize_phone(raw: str) -> str:
    """Return the E.164 form (`+821012345678`) of a Korean phone number written any common way.

    Accepts spaces, hyphens, dots and parentheses anywhere, full-width digits, and a leading
    `+82` or `82` with or without the trunk 0 after it. Raises `IdentityError("phone_format")`.
    """
    compact = "".join(
        ch for ch in fold_fullwidth(raw) if not ch.isspace() and ch not in _SEPARATORS
    )
    match = _DIGITS_PATTERN.fullmatch(compact)
    if match is None:
        raise IdentityError("phone_format", _FORMAT_MESSAGE)
    plus, digits = match.groups()
    if plus or digits.startswith(COUNTRY_CODE):
        # A domestic number always starts with the trunk 0, so a leading 82 is the country code.
        if not digits.startswith(COUNTRY_CODE):
            raise IdentityError("phone_format", _FORMAT_MESSAGE)  # another country's number
        # "+82 (0)2 …" and "+82 010 …" keep the trunk 0 that international dialling drops.
        national = digits.removeprefix(COUNTRY_CODE).removeprefix(TRUNK_PREFIX)
    elif digits.startswith(TRUNK_PREFIX):
        national = digits.removeprefix(TRUNK_PREFIX)
    else:
        raise IdentityError("phone_format", _FORMAT_MESSAGE)
    _split(national)
    return f"+{COUNTRY_CODE}{national}"


def format_phone(e164: str) -> str:
    """Return the domestic display form (`010-1234-5678`) of a number from `normalize_phone`."""
    match = _E164_PATTERN.fullmatch(e164)
    if match is None:
        raise IdentityError("phone_format", _FORMAT_MESSAGE)
    prefix, subscriber = _split(match[1])
    return f"{TRUNK_PREFIX}{prefix}-{subscriber[:-4]}-{subscriber[-4:]}"


def _split(national: str) -> tuple[str, str]:
    """Split a national number (no trunk 0) into its prefix and subscriber number."""
    for size in (1, 2):
        rule = _PREFIXES.get(national[:size])
        if rule is None:
            continue
        subscriber = national[size:]
        if len(subscriber) not in rule.subscriber_lengths:
            break
        # Inside an area a landline is dialled without its area code, so a subscriber number
        # starting with 0 would be read as a trunk prefix: no exchange is numbered that way.
        if rule.kind is _LineKind.LANDLINE and subscriber.startswith("0"):
            break
        return national[:size], subscriber
    raise IdentityError("phone_format", _FORMAT_MESSAGE)
