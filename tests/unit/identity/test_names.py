"""Names: one normal form for exact-match search, and refusal of empty, long or invisible input."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from welfare.identity import MAX_NAME_LENGTH, IdentityError, normalize_name

HONG_NFD = unicodedata.normalize("NFD", "홍길동")


def test_the_decomposed_form_really_differs_from_the_composed_one() -> None:
    assert HONG_NFD != "홍길동"
    assert len(HONG_NFD) == 9  # each syllable decomposes into three jamo (initial, vowel, final)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("홍길동", id="composed"),
        pytest.param(" 홍길동 ", id="surrounding spaces"),
        pytest.param(HONG_NFD, id="decomposed (NFD)"),
        pytest.param(f"\t{HONG_NFD}\u3000", id="decomposed with a tab and a full-width space"),
        pytest.param("\u00a0홍길동\n", id="no-break space and new line"),
    ],
)
def test_every_spelling_of_a_name_normalizes_to_the_same_composed_string(raw: str) -> None:
    assert normalize_name(raw) == "홍길동"
    assert len(normalize_name(raw)) == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("남궁  민수", "남궁 민수", id="double space inside"),
        pytest.param("남궁\u3000민수", "남궁 민수", id="full-width space inside"),
        pytest.param("남궁\t\t민수", "남궁 민수", id="tabs inside"),
        pytest.param("Nguyen\tVan\r\nAn", "Nguyen Van An", id="foreign name with tab and CRLF"),
        pytest.param("  John   SMITH  ", "John SMITH", id="case is kept"),
        pytest.param("김", "김", id="one syllable"),
        pytest.param("José", "José", id="Latin with accent"),
    ],
)
def test_whitespace_is_folded_to_single_spaces_and_stripped(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_a_name_of_exactly_the_maximum_length_is_accepted() -> None:
    assert normalize_name("가" * MAX_NAME_LENGTH) == "가" * MAX_NAME_LENGTH


def test_length_is_counted_after_composition() -> None:
    decomposed = unicodedata.normalize("NFD", "강" * MAX_NAME_LENGTH)
    assert len(decomposed) > MAX_NAME_LENGTH
    assert normalize_name(decomposed) == "강" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces only"),
        pytest.param("\u3000\t\n", id="full-width space, tab and new line only"),
        pytest.param("가" * (MAX_NAME_LENGTH + 1), id="51 characters"),
        pytest.param("홍\x00길동", id="NUL"),
        pytest.param("홍길동\x1b[31m", id="terminal escape"),
        pytest.param("홍길동\x7f", id="DEL"),
        pytest.param("홍\u200b길동", id="zero-width space"),
        pytest.param("\ufeff홍길동", id="byte-order mark"),
        pytest.param("\u202e동길홍", id="right-to-left override"),
        pytest.param("\u3164", id="Hangul filler alone, a blank-looking name"),
        pytest.param("홍\u3164길동", id="Hangul filler inside"),
        pytest.param("\ue000홍길동", id="private-use character"),
    ],
)
def test_an_empty_overlong_or_invisible_name_is_refused(raw: str) -> None:
    with pytest.raises(IdentityError) as caught:
        normalize_name(raw)
    assert caught.value.code == "name_format"
    assert caught.value.message.startswith("이름")
    if raw.strip():
        assert raw.strip() not in caught.value.message


# Mostly what names are made of (Hangul, Latin, spaces, combining marks), so few draws are
# refused: plain st.text() is mostly invalid names, and Hypothesis' filter health check failed
# on it now and then.
NAME_LIKE = st.text(
    alphabet=st.sampled_from(list("김이박최정한가나다라마바사아자차카타파하 \t\u3000·-abcXYZé"))
    | st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn")),
    max_size=40,
)


@given(NAME_LIKE)
def test_normalizing_is_idempotent_and_ignores_decomposition(raw: str) -> None:
    try:
        name = normalize_name(raw)
    except IdentityError:
        assume(False)
        return
    assert normalize_name(name) == name
    assert normalize_name(unicodedata.normalize("NFD", raw)) == name
    assert name == name.strip()
    assert "  " not in name
    assert unicodedata.is_normalized("NFC", name)
    assert 1 <= len(name) <= MAX_NAME_LENGTH


@given(
    st.lists(
        st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([" ", "\t", "\u3000", "  ", " \u3000 "]),
)
def test_hangul_words_come_back_joined_by_single_spaces(words: list[str], gap: str) -> None:
    assume(len(" ".join(words)) <= MAX_NAME_LENGTH)
    assert normalize_name(gap + gap.join(words) + gap) == " ".join(words)
