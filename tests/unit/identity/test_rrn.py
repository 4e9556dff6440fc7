"""Resident registration numbers: the validation table, and properties over generated numbers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from welfare.identity import IdentityError, Sex, parse_rrn

TODAY = date(2026, 11, 24)


# Expected legacy_checksum_ok values were computed independently of the code under test
# (C = (11 − Σ wᵢ·dᵢ mod 11) mod 10, weights 2..9,2..5) and checked by hand for 900101-1234568.
ACCEPTED = [
    pytest.param("971013-9019902", date(1897, 10, 13), Sex.MALE, False, True, id="9: 1800s male"),
    pytest.param(
        "850315-0123454", date(1885, 3, 15), Sex.FEMALE, False, True, id="0: 1800s female"
    ),
    pytest.param("900101-1234568", date(1990, 1, 1), Sex.MALE, False, True, id="1: 1900s male"),
    pytest.param("900101-2234561", date(1990, 1, 1), Sex.FEMALE, False, True, id="2: 1900s female"),
    pytest.param("050505-3123453", date(2005, 5, 5), Sex.MALE, False, True, id="3: 2000s male"),
    pytest.param(
        "120229-4123450",
        date(2012, 2, 29),
        Sex.FEMALE,
        False,
        True,
        id="4: 2000s female, Feb 29 of a leap year",
    ),
    pytest.param(
        "550725-5123450", date(1955, 7, 25), Sex.MALE, True, True, id="5: foreigner 1900s male"
    ),
    pytest.param(
        "881111-6123453",
        date(1988, 11, 11),
        Sex.FEMALE,
        True,
        True,
        id="6: foreigner 1900s female",
    ),
    pytest.param(
        "030303-7123451", date(2003, 3, 3), Sex.MALE, True, True, id="7: foreigner 2000s male"
    ),
    pytest.param(
        "191231-8123453",
        date(2019, 12, 31),
        Sex.FEMALE,
        True,
        True,
        id="8: foreigner 2000s female",
    ),
    pytest.param(
        "000229-3123454",
        date(2000, 2, 29),
        Sex.MALE,
        False,
        True,
        id="2000 is a leap year (divisible by 400)",
    ),
    # Issued after October 2020: the last six digits are random, so the legacy digit may fail.
    pytest.param(
        "210305-4123459",
        date(2021, 3, 5),
        Sex.FEMALE,
        False,
        False,
        id="post-2020 number failing the legacy checksum",
    ),
    pytest.param(
        "210305-4123452",
        date(2021, 3, 5),
        Sex.FEMALE,
        False,
        True,
        id="post-2020 number passing the legacy checksum by chance",
    ),
    pytest.param(
        "201015-3123450",
        date(2020, 10, 15),
        Sex.MALE,
        False,
        False,
        id="born October 2020, legacy checksum fails",
    ),
    pytest.param(
        "900101-1234567", date(1990, 1, 1), Sex.MALE, False, False, id="old number, bad checksum"
    ),
    pytest.param(
        "261124-3123457", TODAY, Sex.MALE, False, True, id="born today is not in the future"
    ),
    # Spellings of 900101-1234568.
    pytest.param("9001011234568", date(1990, 1, 1), Sex.MALE, False, True, id="without the hyphen"),
    pytest.param(
        " \t900101-1234568\n ",
        date(1990, 1, 1),
        Sex.MALE,
        False,
        True,
        id="surrounding whitespace",
    ),
    pytest.param(
        "\u3000900101-1234568\u3000",
        date(1990, 1, 1),
        Sex.MALE,
        False,
        True,
        id="surrounding ideographic (full-width) spaces",
    ),
    pytest.param(
        "９００１０１－１２３４５６８",
        date(1990, 1, 1),
        Sex.MALE,
        False,
        True,
        id="full-width digits and hyphen",
    ),
    pytest.param(
        "９００１０１１２３４５６８",
        date(1990, 1, 1),
        Sex.MALE,
        False,
        True,
        id="full-width digits without hyphen",
    ),
]


@pytest.mark.parametrize(
    ("raw", "birth_date", "sex", "is_foreigner", "legacy_checksum_ok"), ACCEPTED
)
def test_a_valid_number_parses_to_its_birth_date_sex_and_origin(
    raw: str, birth_date: date, sex: Sex, is_foreigner: bool, legacy_checksum_ok: bool
) -> None:
    rrn = parse_rrn(raw, today=TODAY)
    assert rrn.birth_date == birth_date
    assert rrn.sex == sex
    assert rrn.is_foreigner is is_foreigner
    assert rrn.legacy_checksum_ok is legacy_checksum_ok
    assert len(rrn.digits) == 13
    assert rrn.digits.isascii()
    assert rrn.digits.isdigit()
    assert rrn.formatted == f"{rrn.digits[:6]}-{rrn.digits[6:]}"
    assert rrn.masked == f"{rrn.digits[:6]}-{rrn.digits[6]}******"


REJECTED = [
    # Impossible dates.
    pytest.param("240230-3123456", "rrn_birth_date", id="February 30"),
    pytest.param("000229-1123456", "rrn_birth_date", id="Feb 29 1900, not a leap year"),
    pytest.param("230229-4123456", "rrn_birth_date", id="Feb 29 2023, not a leap year"),
    pytest.param("991301-1123456", "rrn_birth_date", id="month 13"),
    pytest.param("990001-1123456", "rrn_birth_date", id="month 00"),
    pytest.param("990100-1123456", "rrn_birth_date", id="day 00"),
    pytest.param("990431-1123456", "rrn_birth_date", id="April 31"),
    pytest.param("990132-5123456", "rrn_birth_date", id="day 32, foreigner"),
    # Born after today.
    pytest.param("261125-3123456", "rrn_future_birth_date", id="tomorrow"),
    pytest.param("500101-3123456", "rrn_future_birth_date", id="2050 by the century digit"),
    pytest.param("991231-8123456", "rrn_future_birth_date", id="foreigner born 2099"),
    # Shape.
    pytest.param("", "rrn_format", id="empty"),
    pytest.param("   ", "rrn_format", id="only whitespace"),
    pytest.param("900101-123456", "rrn_format", id="12 digits"),
    pytest.param("900101-12345678", "rrn_format", id="14 digits"),
    pytest.param("90010-11234567", "rrn_format", id="hyphen in the wrong place"),
    pytest.param("900101123456", "rrn_format", id="12 digits without hyphen"),
    pytest.param("90010l-1234568", "rrn_format", id="letter l for digit 1"),
    pytest.param("900101-I234568", "rrn_format", id="letter I for digit 1"),
    pytest.param("９００１０１－１２３４５６Ｘ", "rrn_format", id="full-width letter"),
    pytest.param("900101--1234568", "rrn_format", id="double hyphen"),
    pytest.param("900101 1234568", "rrn_format", id="space instead of hyphen"),
    pytest.param("900101_1234568", "rrn_format", id="underscore"),
    pytest.param("900101.1234568", "rrn_format", id="dot"),
    pytest.param("900101/1234568", "rrn_format", id="slash"),
    pytest.param("900101-1234568-", "rrn_format", id="trailing hyphen"),
    pytest.param("+9001011234568", "rrn_format", id="leading plus"),
    pytest.param("900101\u20101234568", "rrn_format", id="Unicode hyphen U+2010"),
    pytest.param("900101-1234568\u200b", "rrn_format", id="zero-width space"),
    pytest.param("900101-¹234568", "rrn_format", id="superscript digit (NFKC would fold it)"),
    pytest.param("900101-①234568", "rrn_format", id="circled digit (NFKC would fold it)"),
    pytest.param("٩٠٠١٠١-١٢٣٤٥٦٨", "rrn_format", id="Arabic-Indic digits"),
    pytest.param("900101-1******", "rrn_format", id="a masked number"),
]


@pytest.mark.parametrize(("raw", "code"), REJECTED)
def test_an_invalid_number_is_refused_with_a_stable_code(raw: str, code: str) -> None:
    with pytest.raises(IdentityError) as caught:
        parse_rrn(raw, today=TODAY)
    assert caught.value.code == code
    assert caught.value.status == 422


@pytest.mark.parametrize(("raw", "code"), REJECTED)
def test_a_refusal_message_is_korean_first_and_never_repeats_the_input(raw: str, code: str) -> None:
    with pytest.raises(IdentityError) as caught:
        parse_rrn(raw, today=TODAY)
    message = caught.value.message
    assert str(caught.value) == message
    assert "\uac00" <= message[0] <= "\ud7a3"  # opens with a Hangul syllable
    assert message.endswith(")")  # English in parentheses
    if raw.strip():
        assert raw.strip() not in message
        assert raw.strip()[:6] not in message
    # A chained exception would print in a traceback beside the message.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_a_datetime_for_today_is_refused_because_its_utc_date_may_not_be_seoul_s() -> None:
    with pytest.raises(TypeError, match="Asia/Seoul"):
        parse_rrn("900101-1234568", today=datetime(2026, 11, 24, tzinfo=UTC))


def test_every_spelling_of_a_number_parses_to_the_same_value() -> None:
    spellings = [
        "900101-1234568",
        "9001011234568",
        " 900101-1234568 ",
        "９００１０１－１２３４５６８",
        "900101 - 1234568",  # spaces around the hyphen, as phones tolerate them
        "900101 -1234568",
    ]
    assert len({parse_rrn(s, today=TODAY) for s in spellings}) == 1


def test_a_parsed_number_cannot_be_changed() -> None:
    rrn = parse_rrn("900101-1234568", today=TODAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rrn.digits = "9001012234561"  # type: ignore[misc]  # the refused write under test


def test_repr_str_and_format_show_only_the_masked_number() -> None:
    rrn = parse_rrn("900101-1234568", today=TODAY)
    assert repr(rrn) == "Rrn('900101-1******')"
    assert str(rrn) == "900101-1******"
    assert f"{rrn}" == "900101-1******"
    assert "%s %r" % (rrn, rrn) == "900101-1****** Rrn('900101-1******')"  # noqa: UP031 - %-format under test
    assert "234568" not in repr([rrn, {"rrn": rrn}])


# --- Properties ------------------------------------------------------------------------------

_CENTURIES = {
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


@st.composite
def valid_rrns(draw: st.DrawFn) -> tuple[str, date, str]:
    """A real birth date no later than TODAY, a sex digit valid for its century, six digits."""
    seventh = draw(st.sampled_from(sorted(_CENTURIES)))
    century = _CENTURIES[seventh]
    born = draw(
        st.dates(min_value=date(century, 1, 1), max_value=min(date(century + 99, 12, 31), TODAY))
    )
    serial = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    digits = f"{born.year % 100:02d}{born.month:02d}{born.day:02d}{seventh}{serial}"
    return digits, born, seventh


_FULLWIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


@st.composite
def spellings(draw: st.DrawFn, digits: str) -> str:
    text = f"{digits[:6]}-{digits[6:]}" if draw(st.booleans()) else digits
    if draw(st.booleans()):
        text = text.translate(_FULLWIDTH)
    padding = st.text(alphabet=" \t\n\u3000", max_size=3)
    return draw(padding) + text + draw(padding)


@given(data=st.data(), rrn=valid_rrns())
def test_every_valid_number_parses_and_round_trips_its_formatted_form(
    data: st.DataObject, rrn: tuple[str, date, str]
) -> None:
    digits, born, seventh = rrn
    parsed = parse_rrn(data.draw(spellings(digits)), today=TODAY)
    assert parsed.digits == digits
    assert parsed.birth_date == born
    assert parsed.sex == (Sex.MALE if int(seventh) % 2 else Sex.FEMALE)
    assert parsed.is_foreigner is (seventh in "5678")
    assert parsed.formatted == f"{digits[:6]}-{digits[6:]}"
    assert parse_rrn(parsed.formatted, today=TODAY) == parsed


@given(rrn=valid_rrns())
def test_the_masked_form_never_shows_the_last_six_digits(rrn: tuple[str, date, str]) -> None:
    parsed = parse_rrn(rrn[0], today=TODAY)
    # Position by position: the last six digits may also occur in the birth date (123456-1123456),
    # so "not a substring" would be the wrong property.
    assert parsed.masked[:8] == f"{parsed.digits[:6]}-{parsed.digits[6]}"
    assert parsed.masked[8:] == "******"


@given(rrn=valid_rrns())
def test_repr_and_str_never_contain_the_full_number(rrn: tuple[str, date, str]) -> None:
    parsed = parse_rrn(rrn[0], today=TODAY)
    for shown in (repr(parsed), str(parsed), f"{parsed}", repr([parsed])):
        assert parsed.digits not in shown
        assert parsed.formatted not in shown
        assert parsed.masked in shown
