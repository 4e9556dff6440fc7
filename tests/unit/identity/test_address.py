"""One household however its address is typed: the normal form behind the household index."""

from __future__ import annotations

import pytest

from welfare.identity.address import normalize_address

SAME_DOOR = [
    "서울특별시 금천구 가산로 5, 101호",
    "서울 금천구 가산로 5 101호",
    "서울시 금천구 가산로 5  101호",
    "서울특별시금천구 가산로5, 101 호",
    "금천구 가산로 ５ １０１호",
    "가산로 5, 101호 (가산동)",
    "\u1100\u1161\u1109\u1161\u11ab로 5 101호",  # 가산 decomposed into jamo (NFD)
    "서울　금천구　가산로　5,　101호",  # ideographic spaces
]


@pytest.mark.parametrize("spelling", SAME_DOOR)
def test_every_spelling_of_one_door_has_one_normal_form(spelling: str) -> None:
    assert normalize_address(spelling) == "가산로5 101호"


def test_separators_between_two_numbers_keep_the_numbers_apart() -> None:
    assert normalize_address("가산로 5 101호") != normalize_address("가산로 51 01호")


def test_every_dash_spelling_is_one_dash_without_spaces() -> None:
    forms = {
        normalize_address(a)
        for a in ("시흥대로 5-1", "시흥대로 5 - 1", "시흥대로 5－1", "시흥대로 5–1")
    }
    assert forms == {"시흥대로5-1"}


def test_letters_are_compared_without_case() -> None:
    assert normalize_address("독산로 10 A동 2호") == normalize_address("독산로 10 a동 2호")


def test_another_district_keeps_its_prefix() -> None:
    assert normalize_address("서울 구로구 가산로 5") != normalize_address("서울 금천구 가산로 5")


def test_a_blank_address_has_an_empty_normal_form() -> None:
    assert normalize_address(" ,  ") == ""
