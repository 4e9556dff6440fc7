"""Blind indexes: deterministic per column, separated across columns and keys, sized right."""

from __future__ import annotations

import hmac
import math
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import assume, given
from hypothesis import strategies as st

from welfare.crypto import blind_index
from welfare.crypto.blind_index import (
    MAX_TRUNCATED_BITS,
    MIN_TRUNCATED_BITS,
    NAME_INDEX_BITS,
    PHONE_INDEX_BITS,
    BlindIndexer,
)
from welfare.crypto.keyring import Keyring

# Hypothesis cannot use function-scoped fixtures; one indexer serves the property tests.
INDEX_KEY = Keyring.generate(for_development=False).index_key
INDEXER = BlindIndexer(INDEX_KEY)
OTHER_INDEXER = BlindIndexer(Keyring.generate(for_development=False).index_key)

columns = st.text(min_size=1, max_size=30)
widths = st.integers(min_value=MIN_TRUNCATED_BITS, max_value=MAX_TRUNCATED_BITS)


@given(column=columns, value=st.text())
def test_an_index_is_deterministic_per_column(column: str, value: str) -> None:
    again = BlindIndexer(INDEX_KEY)
    assert INDEXER.full(column, value) == INDEXER.full(column, value) == again.full(column, value)
    assert len(INDEXER.full(column, value)) == 32


@given(column=columns, other=columns, value=st.text())
def test_one_value_indexes_differently_in_another_column(
    column: str, other: str, value: str
) -> None:
    assume(column != other)
    assert INDEXER.full(column, value) != INDEXER.full(other, value)


@given(column=columns, value=st.text())
def test_one_value_indexes_differently_under_another_index_key(column: str, value: str) -> None:
    assert INDEXER.full(column, value) != OTHER_INDEXER.full(column, value)


@given(column=columns, value=st.text(), other=st.text())
def test_different_values_give_different_full_indexes(column: str, value: str, other: str) -> None:
    assume(value != other)
    assert INDEXER.full(column, value) != INDEXER.full(column, other)


@given(column=columns, value=st.text(), bits=widths)
def test_a_truncated_index_has_exactly_the_asked_width(column: str, value: str, bits: int) -> None:
    index = INDEXER.truncated(column, value, bits)
    assert 0 <= index < 2**bits
    # It is the top `bits` bits of the full index, so widths nest as prefixes.
    top32 = int.from_bytes(INDEXER.full(column, value)[:4], "big")
    assert index == top32 >> (32 - bits)


def test_truncated_widths_use_their_whole_range() -> None:
    seen = {INDEXER.truncated("residents.phone", f"+8210{n:08d}", 8) for n in range(5000)}
    assert len(seen) == 256  # all 2^8 buckets are reached: no bits are stuck


@pytest.mark.parametrize("bits", [0, 7, 33, 64, -1])
def test_a_width_outside_8_to_32_bits_is_refused(bits: int) -> None:
    with pytest.raises(ValueError, match="8 to 32 bits"):
        INDEXER.truncated("residents.name", "김민준", bits)


def test_column_keys_are_hkdf_sha256_of_the_index_key_with_the_column_as_info() -> None:
    index_key = secrets.token_bytes(32)
    column_key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"welfare-blind-index:residents.name",
    ).derive(index_key)
    expected = hmac.digest(column_key, "김민준".encode(), "sha256")
    assert BlindIndexer(index_key).full("residents.name", "김민준") == expected


@given(column=columns, value=st.text())
def test_the_index_is_hmac_sha256_under_the_column_key(column: str, value: str) -> None:
    # full() copies the column's keyed HMAC; hmac.digest is the reference.
    column_key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"welfare-blind-index:" + column.encode("utf-8"),
    ).derive(INDEX_KEY)
    expected = hmac.digest(column_key, value.encode("utf-8"), "sha256")
    assert INDEXER.full(column, value) == expected
    assert INDEXER.full(column, value) == expected  # the pads are copied, never consumed


def test_column_keys_are_derived_once_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    derivations: list[bytes] = []
    real_hkdf = blind_index.HKDF

    def counting_hkdf(*, info: bytes, **kwargs: Any) -> HKDF:
        derivations.append(info)
        return real_hkdf(info=info, **kwargs)

    monkeypatch.setattr(blind_index, "HKDF", counting_hkdf)
    indexer = BlindIndexer(secrets.token_bytes(32))
    for value in ("김민준", "이서연", "박지호"):
        indexer.full("residents.name", value)
        indexer.truncated("residents.name", value, NAME_INDEX_BITS)
    indexer.truncated("residents.phone", "+821012345678", PHONE_INDEX_BITS)
    assert derivations == [
        b"welfare-blind-index:residents.name",
        b"welfare-blind-index:residents.phone",
    ]


def test_default_widths_sit_in_the_planners_safe_range_for_100k_residents() -> None:
    residents = 100_000
    for bits in (PHONE_INDEX_BITS, NAME_INDEX_BITS):
        coincidences = residents / 2**bits
        # At least one chance match per lookup (no near-unique index to link on), and no more
        # than sqrt(R) candidates to decrypt and confirm.
        assert 1 <= coincidences <= math.sqrt(residents)


def test_a_wrong_sized_index_key_or_empty_column_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        BlindIndexer(b"short")
    with pytest.raises(ValueError, match="column"):
        INDEXER.full("", "9001011234567")


def test_the_indexer_repr_shows_no_key_material() -> None:
    index_key = secrets.token_bytes(32)
    indexer = BlindIndexer(index_key)
    indexer.full("residents.rrn", "9001011234567")
    assert index_key.hex() not in repr(indexer)
    assert repr(index_key) not in repr(indexer)
