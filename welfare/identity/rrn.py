"""Resident registration numbers (주민등록번호): parsing, century and sex, masking.

Facts (DOMAIN.md): `YYMMDD-SNNNNNN`; S gives century and sex — 9/0 → 1800s, 1/2 → 1900s,
3/4 → 2000s; 5/6 and 7/8 are foreigners' registration numbers of the 1900s and 2000s; odd is
male, even female. The legacy check digit does not hold for numbers issued since October 2020
(their last six digits are random), so a failed checksum is reported, never a rejection.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from welfare.identity.errors import IdentityError

_SHAPE = re.compile(r"^(\d{6})-?(\d{7})$")
_CENTURY = {
    "9": 1800,
    "0": 1800,
    "1": 1900,
    "2": 1900,
    "3": 2000,
    "4": 2000,
    "5": 1900,
    "6": 1900,
    "7": 2000,
    "8": 2000,
}
_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


@dataclass(frozen=True, slots=True)
class Rrn:
    """A valid RRN. Its repr and str show only the masked form."""

    digits: str
    birth_date: date
    sex: str
    is_foreigner: bool
    legacy_checksum_ok: bool

    @property
    def masked(self) -> str:
        return f"{self.digits[:6]}-{self.digits[6]}******"

    @property
    def formatted(self) -> str:
        return f"{self.digits[:6]}-{self.digits[6:]}"

    def __repr__(self) -> str:
        return f"Rrn({self.masked})"

    def __str__(self) -> str:
        return self.masked


def legacy_checksum_ok(digits: str) -> bool:
    total = sum(int(d) * w for d, w in zip(digits[:12], _WEIGHTS, strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


def parse_rrn(raw: str, *, today: date) -> Rrn:
    """Validate and normalize an RRN (hyphen optional; full-width digits accepted)."""
    text = unicodedata.normalize("NFKC", raw).strip()
    match = _SHAPE.match(text)
    if match is None:
        raise IdentityError(
            "rrn_format", "주민등록번호는 숫자 13자리입니다 (an RRN is 13 digits, YYMMDD-SNNNNNN)"
        )
    digits = match.group(1) + match.group(2)
    century = _CENTURY.get(digits[6])
    if century is None:  # unreachable for a digit, kept for clarity
        raise IdentityError("rrn_century_digit", "성별 자리가 올바르지 않습니다 (bad sex digit)")
    try:
        born = date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        raise IdentityError(
            "rrn_birth_date", "생년월일이 올바르지 않습니다 (impossible birth date)"
        ) from None
    if born > today:
        raise IdentityError(
            "rrn_future_birth_date", "생년월일이 미래입니다 (birth date in the future)"
        )
    return Rrn(
        digits=digits,
        birth_date=born,
        sex="male" if int(digits[6]) % 2 else "female",
        is_foreigner=digits[6] in "5678",
        legacy_checksum_ok=legacy_checksum_ok(digits),
    )
