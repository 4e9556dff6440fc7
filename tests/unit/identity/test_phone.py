"""Phone numbers: every common spelling normalizes to one E.164 form and displays with hyphens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from welfare.identity import IdentityError, format_phone, normalize_phone

SAME_MOBILE = [
    "010-1234-5678",
    "01012345678",
    "010 1234 5678",
    "010.1234.5678",
    "(010) 1234-5678",
    "010)1234-5678",
    " 010 - 1234 - 5678 ",
    "\t010\u30001234\u00a05678\n",
    "+82 10-1234-5678",
    "+82-10-1234-5678",
    "+82.10.1234.5678",
    "+821012345678",
    "821012345678",
    "82 10 1234 5678",
    "+82 010 1234 5678",
    "+82 (0)10 1234 5678",
    "+82(0)1012345678",
    "０１０－１２３４－５６７８",
    "＋８２ １０ １２３４ ５６７８",
    "010\u20131234\u20135678",
    "010\u20101234\u20105678",
]


@pytest.mark.parametrize("raw", SAME_MOBILE)
def test_every_spelling_of_a_mobile_number_normalizes_to_one_e164_form(raw: str) -> None:
    assert normalize_phone(raw) == "+821012345678"


SAME_SEOUL = [
    "02-123-4567",
    "021234567",
    "(02) 123-4567",
    "02)123-4567",
    "02 123 4567",
    "+82 (0)2 123 4567",
    "+82 2 123 4567",
    "+82-2-123-4567",
    "8221234567",
    "０２－１２３－４５６７",
]


@pytest.mark.parametrize("raw", SAME_SEOUL)
def test_every_spelling_of_a_seoul_number_normalizes_to_one_e164_form(raw: str) -> None:
    assert normalize_phone(raw) == "+8221234567"


KINDS = [
    pytest.param("010-9876-5432", "+821098765432", "010-9876-5432", id="mobile 010"),
    pytest.param("011-123-4567", "+82111234567", "011-123-4567", id="legacy 011, 3-digit middle"),
    pytest.param("016-1234-5678", "+821612345678", "016-1234-5678", id="legacy 016, 4-digit"),
    pytest.param("017-123-4567", "+82171234567", "017-123-4567", id="legacy 017"),
    pytest.param("018-123-4567", "+82181234567", "018-123-4567", id="legacy 018"),
    pytest.param("019-9123-4567", "+821991234567", "019-9123-4567", id="legacy 019"),
    pytest.param("02-2627-2114", "+82226272114", "02-2627-2114", id="Seoul, 4-digit middle"),
    pytest.param("02-123-4567", "+8221234567", "02-123-4567", id="Seoul, 3-digit middle"),
    pytest.param("031-123-4567", "+82311234567", "031-123-4567", id="Gyeonggi 031"),
    pytest.param("032-1234-5678", "+823212345678", "032-1234-5678", id="Incheon 032"),
    pytest.param("033-123-4567", "+82331234567", "033-123-4567", id="Gangwon 033"),
    pytest.param("041-123-4567", "+82411234567", "041-123-4567", id="Chungnam 041"),
    pytest.param("042-123-4567", "+82421234567", "042-123-4567", id="Daejeon 042"),
    pytest.param("043-123-4567", "+82431234567", "043-123-4567", id="Chungbuk 043"),
    pytest.param("044-123-4567", "+82441234567", "044-123-4567", id="Sejong 044"),
    pytest.param("051-123-4567", "+82511234567", "051-123-4567", id="Busan 051"),
    pytest.param("052-123-4567", "+82521234567", "052-123-4567", id="Ulsan 052"),
    pytest.param("053-123-4567", "+82531234567", "053-123-4567", id="Daegu 053"),
    pytest.param("054-123-4567", "+82541234567", "054-123-4567", id="Gyeongbuk 054"),
    pytest.param("055-123-4567", "+82551234567", "055-123-4567", id="Gyeongnam 055"),
    pytest.param("061-123-4567", "+82611234567", "061-123-4567", id="Jeonnam 061"),
    pytest.param("062-123-4567", "+82621234567", "062-123-4567", id="Gwangju 062"),
    pytest.param("063-123-4567", "+82631234567", "063-123-4567", id="Jeonbuk 063"),
    pytest.param("064-710-1234", "+82647101234", "064-710-1234", id="Jeju 064"),
    pytest.param("070-1234-5678", "+827012345678", "070-1234-5678", id="internet phone 070"),
    pytest.param("02-1234-5678", "+82212345678", "02-1234-5678", id="subscriber from 1"),
]


@pytest.mark.parametrize(("raw", "e164", "shown"), KINDS)
def test_each_kind_of_number_normalizes_and_displays_in_domestic_form(
    raw: str, e164: str, shown: str
) -> None:
    assert normalize_phone(raw) == e164
    assert format_phone(e164) == shown


REFUSED = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="only whitespace"),
    pytest.param("-()", id="only separators"),
    pytest.param("010", id="prefix only"),
    pytest.param("010-1234", id="too short"),
    pytest.param("010-123-4567", id="010 with 7 digits"),
    pytest.param("010-1234-567", id="010 with 7 digits, split 4-3"),
    pytest.param("010-1234-56789", id="010 with 9 digits"),
    pytest.param("011-12-3456", id="legacy mobile with 6 digits"),
    pytest.param("02-123-456", id="Seoul with 6 digits"),
    pytest.param("02-12345-6789", id="Seoul with 9 digits"),
    pytest.param("02-0123-4567", id="landline subscriber starting with 0"),
    pytest.param("031-012-3456", id="area landline subscriber starting with 0"),
    pytest.param("070-123-4567", id="070 with 7 digits"),
    pytest.param("099-123-4567", id="unknown area code 099"),
    pytest.param("034-123-4567", id="unknown area code 034"),
    pytest.param("045-123-4567", id="unknown area code 045"),
    pytest.param("056-123-4567", id="unknown area code 056"),
    pytest.param("065-123-4567", id="unknown area code 065"),
    pytest.param("012-123-4567", id="unassigned mobile prefix 012"),
    pytest.param("080-123-4567", id="toll-free 080 is not a resident's number"),
    pytest.param("050-1234-5678", id="050 virtual number"),
    pytest.param("1588-1234", id="representative number without trunk 0"),
    pytest.param("10-1234-5678", id="mobile without its trunk 0"),
    pytest.param("2-123-4567", id="Seoul without its trunk 0"),
    pytest.param("00-10-1234-5678", id="doubled trunk 0"),
    pytest.param("0082 10 1234 5678", id="international dialling prefix"),
    pytest.param("+82 00 10 1234 5678", id="two zeros after the country code"),
    pytest.param("+1 202 555 0100", id="another country"),
    pytest.param("+81 3-1234-5678", id="Japan"),
    pytest.param("++82 10 1234 5678", id="doubled plus"),
    pytest.param("010+1234+5678", id="plus inside the number"),
    pytest.param("O10-1234-5678", id="letter O for zero"),
    pytest.param("010-1234-567a", id="letter"),
    pytest.param("010-1234-5678 ext. 9", id="extension"),
    pytest.param("010/1234/5678", id="slashes"),
    pytest.param("010_1234_5678", id="underscores"),
    pytest.param("010-1234-567٨", id="Arabic-Indic digit"),
    pytest.param("010-1234-567⑧", id="circled digit"),
    pytest.param("010-1234-5678\u200b", id="zero-width space"),
]


@pytest.mark.parametrize("raw", REFUSED)
def test_a_number_that_is_not_korean_or_not_well_formed_is_refused(raw: str) -> None:
    with pytest.raises(IdentityError) as caught:
        normalize_phone(raw)
    assert caught.value.code == "phone_format"
    assert caught.value.message.startswith("전화번호")
    if raw.strip():
        assert raw.strip() not in caught.value.message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("010-1234-5678", id="domestic form"),
        pytest.param("01012345678", id="domestic digits"),
        pytest.param("+82 10 1234 5678", id="spaced"),
        pytest.param("+8201012345678", id="trunk 0 kept"),
        pytest.param("+11234567890", id="another country"),
        pytest.param("+82991234567", id="unknown prefix"),
        pytest.param("", id="empty"),
    ],
)
def test_format_phone_accepts_only_the_stored_e164_form(value: str) -> None:
    with pytest.raises(IdentityError, match="전화번호"):
        format_phone(value)


# --- Properties: the test keeps its own copy of the numbering plan, as an independent oracle ---

_PLAN: dict[str, tuple[int, ...]] = {
    "010": (8,),
    **dict.fromkeys(["011", "016", "017", "018", "019"], (7, 8)),
    "070": (8,),
    **dict.fromkeys(["02", "031", "032", "033", "041", "042", "043", "044"], (7, 8)),
    **dict.fromkeys(["051", "052", "053", "054", "055", "061", "062", "063", "064"], (7, 8)),
}


@st.composite
def domestic_numbers(draw: st.DrawFn) -> tuple[str, str, str]:
    """(prefix, middle, last four) of a valid number, e.g. ("02", "123", "4567")."""
    prefix = draw(st.sampled_from(sorted(_PLAN)))
    length = draw(st.sampled_from(_PLAN[prefix]))
    first = draw(st.sampled_from("123456789"))
    rest = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    subscriber = first + rest
    return prefix, subscriber[:-4], subscriber[-4:]


_SEPARATORS = st.sampled_from(["-", " ", ".", "", " - ", "\u3000"])


@given(number=domestic_numbers(), sep1=_SEPARATORS, sep2=_SEPARATORS, international=st.booleans())
def test_format_phone_round_trips_every_valid_number(
    number: tuple[str, str, str], sep1: str, sep2: str, international: bool
) -> None:
    prefix, middle, last = number
    lead = f"+82 {prefix[1:]}" if international else prefix
    e164 = normalize_phone(f"{lead}{sep1}{middle}{sep2}{last}")
    assert e164 == f"+82{prefix[1:]}{middle}{last}"
    assert format_phone(e164) == f"{prefix}-{middle}-{last}"
    assert normalize_phone(format_phone(e164)) == e164
