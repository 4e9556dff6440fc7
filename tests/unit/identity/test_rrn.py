"""RRN validation table: every century and sex digit, foreigners, impossible dates, checksums."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from welfare.identity import IdentityError, parse_rrn
from welfare.identity.rrn import legacy_checksum_ok

TODAY = date(2026, 11, 24)


def with_check_digit(first12: str) -> str:
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    total = sum(int(d) * w for d, w in zip(first12, weights, strict=True))
    return first12 + str((11 - total % 11) % 10)


@pytest.mark.parametrize(
    ("raw", "born", "sex", "foreigner"),
    [
        ("850315-9234561", date(1885, 3, 15), "male", False),
        ("850315-0234561", date(1885, 3, 15), "female", False),
        ("900101-1234561", date(1990, 1, 1), "male", False),
        ("900101-2234561", date(1990, 1, 1), "female", False),
        ("050505-3234561", date(2005, 5, 5), "male", False),
        ("050505-4234561", date(2005, 5, 5), "female", False),
        ("770707-5234561", date(1977, 7, 7), "male", True),
        ("770707-6234561", date(1977, 7, 7), "female", True),
        ("100210-7234561", date(2010, 2, 10), "male", True),
        ("100210-8234561", date(2010, 2, 10), "female", True),
        ("000229-3234561", date(2000, 2, 29), "male", False),  # 2000 was a leap year
        ("9001011234561", date(1990, 1, 1), "male", False),  # no hyphen
        (" 900101-1234561 ", date(1990, 1, 1), "male", False),  # surrounding space
        ("９００１０１－１２３４５６１", date(1990, 1, 1), "male", False),  # full-width
    ],
)
def test_valid_numbers_give_birth_date_sex_and_origin(
    raw: str, born: date, sex: str, foreigner: bool
) -> None:
    rrn = parse_rrn(raw, today=TODAY)
    assert (rrn.birth_date, rrn.sex, rrn.is_foreigner) == (born, sex, foreigner)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("900230-1234561", "rrn_birth_date"),  # February 30th
        ("000229-1234561", "rrn_birth_date"),  # 1900 was not a leap year
        ("230229-3234561", "rrn_birth_date"),  # 2023 was not a leap year
        ("901301-1234561", "rrn_birth_date"),  # month 13
        ("900100-1234561", "rrn_birth_date"),  # day 0
        ("301231-3234561", "rrn_future_birth_date"),  # 2030
        ("261125-3234561", "rrn_future_birth_date"),  # tomorrow
        ("900101-123456", "rrn_format"),  # 12 digits
        ("900101-12345678", "rrn_format"),  # 14 digits
        ("9001011-234561", "rrn_format"),  # hyphen in the wrong place
        ("90O101-1234561", "rrn_format"),  # letter O
        ("900101_1234561", "rrn_format"),
        ("900101--1234561", "rrn_format"),
        ("", "rrn_format"),
    ],
)
def test_invalid_numbers_are_refused_with_a_stable_code(raw: str, code: str) -> None:
    with pytest.raises(IdentityError) as error:
        parse_rrn(raw, today=TODAY)
    assert error.value.code == code
    assert raw.strip() == "" or raw not in error.value.message


def test_a_number_born_today_is_accepted() -> None:
    assert parse_rrn("261124-4234561", today=TODAY).birth_date == TODAY


def test_a_failed_legacy_check_digit_is_never_a_rejection() -> None:
    good = with_check_digit("201115400001")  # post-2020 style number, made to pass
    bad = good[:12] + str((int(good[12]) + 1) % 10)
    assert parse_rrn(good, today=TODAY).legacy_checksum_ok is True
    post_2020 = parse_rrn(bad, today=TODAY)
    assert post_2020.legacy_checksum_ok is False
    assert post_2020.birth_date == date(2020, 11, 15)


def test_the_masked_form_hides_the_last_six_digits() -> None:
    rrn = parse_rrn("900101-1234561", today=TODAY)
    assert rrn.masked == "900101-1******"
    assert rrn.formatted == "900101-1234561"
    assert "234561" not in repr(rrn)
    assert "234561" not in str(rrn)
    assert "234561" not in f"{rrn}"


SEX_DIGITS = {1800: "90", 1900: "1256", 2000: "3478"}


@st.composite
def valid_rrns(draw: st.DrawFn) -> tuple[str, date]:
    born = draw(st.dates(min_value=date(1800, 1, 1), max_value=TODAY))
    digit = draw(st.sampled_from(SEX_DIGITS[born.year // 100 * 100]))
    rest = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    return f"{born:%y%m%d}-{digit}{rest}", born


@given(valid_rrns())
def test_every_real_date_with_a_matching_sex_digit_parses_and_round_trips(
    case: tuple[str, date],
) -> None:
    raw, born = case
    rrn = parse_rrn(raw, today=TODAY)
    assert rrn.formatted == raw
    assert rrn.birth_date == born
    assert raw[8:] not in rrn.masked
    assert isinstance(legacy_checksum_ok(rrn.digits), bool)


def test_tomorrow_is_refused_whatever_the_century() -> None:
    tomorrow = TODAY + timedelta(days=1)
    with pytest.raises(IdentityError):
        parse_rrn(f"{tomorrow:%y%m%d}-4000001", today=TODAY)
