"""Phones normalize to one E.164 form whatever the spelling; names to one search form."""

from __future__ import annotations

import unicodedata

import pytest

from welfare.identity import IdentityError, format_phone, normalize_name, normalize_phone


@pytest.mark.parametrize(
    ("spellings", "e164", "shown"),
    [
        (
            [
                "010-1234-5678",
                "01012345678",
                "010 1234 5678",
                "010.1234.5678",
                "(010) 1234-5678",
                "+82 10-1234-5678",
                "+821012345678",
                "821012345678",
                "+82 (0)10 1234 5678",
                "００１０－１２３４－５６７８"[1:],
                "0082-10-1234-5678",
            ],
            "+821012345678",
            "010-1234-5678",
        ),
        (["02-123-4567", "021234567", "+82 2 123 4567"], "+8221234567", "02-123-4567"),
        (["02-1234-5678", "+82 (0)2 1234 5678"], "+82212345678", "02-1234-5678"),
        (["031-123-4567", "0311234567"], "+82311234567", "031-123-4567"),
        (["064-7123-4567"], "+826471234567", "064-7123-4567"),
        (["070-1234-5678"], "+827012345678", "070-1234-5678"),
        (["011-123-4567"], "+82111234567", "011-123-4567"),
    ],
)
def test_every_spelling_of_a_number_normalizes_to_one_e164(
    spellings: list[str], e164: str, shown: str
) -> None:
    assert {normalize_phone(s) for s in spellings} == {e164}
    assert format_phone(e164) == shown


@pytest.mark.parametrize(
    "raw",
    [
        "010-123-456",
        "010-1234-567",
        "099-123-4567",
        "010-abcd-5678",
        "1234",
        "",
        "010-1234-56789",
        "02-012-3456",
        "+1 202 555 0100",
    ],
)
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(IdentityError) as error:
        normalize_phone(raw)
    assert error.value.code == "phone_format"


def test_names_normalize_to_one_form() -> None:
    decomposed = unicodedata.normalize("NFD", "홍길동")
    assert decomposed != "홍길동"
    assert normalize_name(decomposed) == normalize_name(" 홍길동 ") == "홍길동"
    assert normalize_name("남궁\u3000 민수\t") == "남궁 민수"


@pytest.mark.parametrize("raw", ["", "   ", "가" * 51, "홍\x00길동"])
def test_empty_overlong_or_control_character_names_are_refused(raw: str) -> None:
    with pytest.raises(IdentityError):
        normalize_name(raw)
