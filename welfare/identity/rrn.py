"""Resident registration numbers (주민등록번호): parsed strictly, shown only masked.

An RRN is `YYMMDD-SNNNNNN`: a birth date, then a digit S that gives century, sex and whether
the number is a foreigner's registration number, then six digits that identify the person.
개인정보 보호법 §24-2 requires the number to be shown masked (`YYMMDD-S******`), so the parsed
value prints only that form; whoever needs the digits asks for them by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType

from welfare.identity.errors import IdentityError
from welfare.identity.fullwidth import fold_fullwidth


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class _SeventhDigit:
    century: int
    sex: Sex
    is_foreigner: bool


# Every digit has a meaning, so the seventh digit alone never makes a number invalid: 9/0 for
# Koreans born in the 1800s, 1/2 and 3/4 for the 1900s and 2000s, 5/6 and 7/8 for foreigners'
# registration numbers (외국인등록번호) of the 1900s and 2000s. Odd is male, even is female.
_SEVENTH_DIGITS = MappingProxyType(
    {
        "9": _SeventhDigit(1800, Sex.MALE, is_foreigner=False),
        "0": _SeventhDigit(1800, Sex.FEMALE, is_foreigner=False),
        "1": _SeventhDigit(1900, Sex.MALE, is_foreigner=False),
        "2": _SeventhDigit(1900, Sex.FEMALE, is_foreigner=False),
        "3": _SeventhDigit(2000, Sex.MALE, is_foreigner=False),
        "4": _SeventhDigit(2000, Sex.FEMALE, is_foreigner=False),
        "5": _SeventhDigit(1900, Sex.MALE, is_foreigner=True),
        "6": _SeventhDigit(1900, Sex.FEMALE, is_foreigner=True),
        "7": _SeventhDigit(2000, Sex.MALE, is_foreigner=True),
        "8": _SeventhDigit(2000, Sex.FEMALE, is_foreigner=True),
    }
)

# ASCII digits only: `\d` would also match Arabic-Indic and other Unicode digits, which `int()`
# happily reads. Full-width digits were folded to ASCII before matching.
# Spaces around the hyphen are tolerated, as they are in phone numbers ("480315 - 2123459").
_RRN_PATTERN = re.compile(r"([0-9]{6})(?:\s*-\s*)?([0-9]{7})")
# Numbers issued from this day on end in six random digits: no check digit to hold.
RANDOM_SUFFIX_SINCE = date(2020, 10, 1)

_LEGACY_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)

_MASK = "******"


@dataclass(frozen=True, slots=True, repr=False)
class Rrn:
    """A parsed resident registration number; build it with `parse_rrn`, not by hand."""

    digits: str
    birth_date: date
    sex: Sex
    is_foreigner: bool
    # Informational only. Numbers issued since October 2020 end in six random digits, so a
    # failed legacy checksum says nothing about whether the number is real.
    legacy_checksum_ok: bool

    @property
    def may_be_a_typo(self) -> bool:
        """The legacy check digit fails for someone born before October 2020.

        Their number was issued with a check digit, so a mismatch is far more often a typo than
        a number reissued since then (which ends in random digits): registration asks for a
        confirmation. Someone born since then always has a random suffix, so nothing is asked.
        """
        return not self.legacy_checksum_ok and self.birth_date < RANDOM_SUFFIX_SINCE

    @property
    def masked(self) -> str:
        """`YYMMDD-S******`, the only form 개인정보 보호법 §24-2 lets a screen or log show."""
        return f"{self.digits[:6]}-{self.digits[6]}{_MASK}"

    @property
    def formatted(self) -> str:
        """`YYMMDD-SNNNNNN`, the full number: for encryption and for the people entitled to it."""
        return f"{self.digits[:6]}-{self.digits[6:]}"

    # A log line, a traceback or a debugger must never print the full number.
    def __repr__(self) -> str:
        return f"Rrn({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


def parse_rrn(raw: str, *, today: date) -> Rrn:
    """Parse `raw` as an RRN born no later than `today` (the Seoul calendar date).

    Accepts the number with or without its hyphen, surrounded by whitespace, in ASCII or
    full-width digits. Raises `IdentityError` ("rrn_format", "rrn_birth_date",
    "rrn_future_birth_date"); the legacy check digit never causes a rejection.
    """
    if isinstance(today, datetime):
        # A UTC timestamp's date is yesterday in Seoul for nine hours of every day.
        raise TypeError("today must be a date in Asia/Seoul, not a datetime")
    match = _RRN_PATTERN.fullmatch(fold_fullwidth(raw).strip())
    if match is None:
        raise IdentityError(
            "rrn_format",
            "주민등록번호는 숫자 13자리(YYMMDD-SNNNNNN)로 입력하세요 (expected 13 digits)",
        )
    digits = match[1] + match[2]
    seventh = _SEVENTH_DIGITS[digits[6]]
    try:
        birth_date = date(seventh.century + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        # `from None`: the chained ValueError would only repeat the date parts of the number.
        raise IdentityError(
            "rrn_birth_date", "생년월일이 올바르지 않습니다 (impossible birth date)"
        ) from None
    if birth_date > today:
        raise IdentityError(
            "rrn_future_birth_date", "생년월일이 미래 날짜입니다 (birth date in the future)"
        )
    return Rrn(
        digits=digits,
        birth_date=birth_date,
        sex=seventh.sex,
        is_foreigner=seventh.is_foreigner,
        legacy_checksum_ok=_legacy_check_digit(digits[:12]) == int(digits[12]),
    )


def _legacy_check_digit(first_twelve: str) -> int:
    """C = (11 − Σ wᵢ·dᵢ mod 11) mod 10, the check digit of numbers issued before October 2020."""
    total = sum(
        weight * int(digit) for weight, digit in zip(_LEGACY_WEIGHTS, first_twelve, strict=True)
    )
    return (11 - total % 11) % 10
