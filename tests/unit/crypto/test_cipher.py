"""Field encryption: round trips, fresh nonces, tamper evidence, place binding, silent errors."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import assume, given
from hypothesis import strategies as st

from welfare.crypto import cipher
from welfare.crypto.cipher import (
    AES_256_GCM_ID,
    FORMAT_VERSION,
    DecryptionError,
    FieldContext,
    FieldKey,
    decrypt_bytes,
    decrypt_field,
    encrypt_bytes,
    encrypt_field,
    key_generation_of,
    register_algorithm,
)

# Hypothesis cannot use function-scoped fixtures, so the property tests share module keys.
KEY = secrets.token_bytes(32)
OTHER_KEY = secrets.token_bytes(32)
HERE = FieldContext("residents", "rrn", "6f1c2a9e-8a43-4c52-9f0d-4b7f2f6f3a10")
RRN = "900101-1234567"

parts = st.text(min_size=1, max_size=40)
contexts = st.builds(FieldContext, table=parts, column=parts, row_id=parts)
generations = st.integers(min_value=0, max_value=0xFFFF)


def flip_bit(blob: bytes, bit: int) -> bytes:
    flipped = bytearray(blob)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


@given(value=st.text(), context=contexts, generation=generations)
def test_every_text_value_round_trips_in_its_own_place(
    value: str, context: FieldContext, generation: int
) -> None:
    blob = encrypt_field(KEY, value, context, generation)
    assert decrypt_field(KEY, blob, context) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "김민준",
        "남궁 서연",
        "서울특별시 금천구 시흥대로 123, 현대아파트 101동 1203호 (시흥동)",
        "+821012345678",
        "ㄱㄴㄷ 한글 자모와 漢字, emoji 🙂, and a NUL \x00 byte",
    ],
)
def test_korean_and_empty_values_round_trip(value: str) -> None:
    assert decrypt_field(KEY, encrypt_field(KEY, value, HERE), HERE) == value


@given(value=st.binary(), context=contexts)
def test_every_byte_string_round_trips_through_the_bytes_variant(
    value: bytes, context: FieldContext
) -> None:
    assert decrypt_bytes(KEY, encrypt_bytes(KEY, value, context), context) == value


@given(value=st.text())
def test_two_encryptions_of_one_value_differ(value: str) -> None:
    assert encrypt_field(KEY, value, HERE) != encrypt_field(KEY, value, HERE)


def test_the_blob_carries_version_algorithm_and_generation_then_nonce_and_tag() -> None:
    blob = encrypt_field(KEY, RRN, HERE, key_generation=513)
    assert blob[0] == FORMAT_VERSION == 1
    assert blob[1] == AES_256_GCM_ID == 1
    assert blob[2:4] == (513).to_bytes(2, "big")
    assert key_generation_of(blob) == 513
    assert len(blob) == 4 + 12 + len(RRN.encode()) + 16


@given(value=st.text(max_size=64), data=st.data())
def test_any_single_flipped_bit_anywhere_in_the_blob_fails(value: str, data: st.DataObject) -> None:
    blob = encrypt_field(KEY, value, HERE)
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1), label="bit")
    with pytest.raises(DecryptionError):
        decrypt_field(KEY, flip_bit(blob, bit), HERE)


def test_every_bit_of_an_rrn_blob_is_protected() -> None:
    blob = encrypt_field(KEY, RRN, HERE)
    for bit in range(len(blob) * 8):
        with pytest.raises(DecryptionError):
            decrypt_field(KEY, flip_bit(blob, bit), HERE)


def test_every_truncation_and_any_extension_of_a_blob_fails() -> None:
    blob = encrypt_field(KEY, RRN, HERE)
    for end in range(len(blob)):
        with pytest.raises(DecryptionError):
            decrypt_field(KEY, blob[:end], HERE)
    with pytest.raises(DecryptionError):
        decrypt_field(KEY, blob + b"\x00", HERE)


@given(value=st.text(max_size=64), context=contexts, other=contexts)
def test_a_value_copied_to_any_other_place_fails(
    value: str, context: FieldContext, other: FieldContext
) -> None:
    assume(other != context)
    with pytest.raises(DecryptionError):
        decrypt_field(KEY, encrypt_field(KEY, value, context), other)


@pytest.mark.parametrize(
    "elsewhere",
    [
        FieldContext("residents", "rrn", "0d7e5b8c-2f6a-4c1b-8e3d-9a0b1c2d3e4f"),  # another row
        FieldContext("residents", "phone", HERE.row_id),  # another column, same row
        FieldContext("guardians", "rrn", HERE.row_id),  # another table, same id
    ],
    ids=["other-row", "other-column", "other-table"],
)
def test_an_rrn_moved_to_another_row_column_or_table_fails(elsewhere: FieldContext) -> None:
    with pytest.raises(DecryptionError):
        decrypt_field(KEY, encrypt_field(KEY, RRN, HERE), elsewhere)


def test_length_prefixes_make_separator_games_impossible() -> None:
    pairs = [
        (FieldContext("a|b", "c", "1"), FieldContext("a", "b|c", "1")),
        (FieldContext("ab", "c", "1"), FieldContext("a", "bc", "1")),
        (FieldContext("t", "c", "12"), FieldContext("t", "c1", "2")),
    ]
    for one, two in pairs:
        assert one.encode() != two.encode()
        with pytest.raises(DecryptionError):
            decrypt_field(KEY, encrypt_field(KEY, RRN, one), two)


@given(value=st.text(max_size=64))
def test_another_data_key_cannot_decrypt(value: str) -> None:
    with pytest.raises(DecryptionError):
        decrypt_field(OTHER_KEY, encrypt_field(KEY, value, HERE), HERE)


def test_an_unknown_format_version_or_algorithm_fails() -> None:
    blob = encrypt_field(KEY, RRN, HERE)
    for forged in (b"\x02" + blob[1:], blob[:1] + b"\x07" + blob[2:], b"\x00" + blob[1:]):
        with pytest.raises(DecryptionError):
            decrypt_field(KEY, forged, HERE)


def test_a_blob_relabelled_with_another_key_generation_fails() -> None:
    blob = encrypt_field(KEY, RRN, HERE, key_generation=1)
    with pytest.raises(DecryptionError):
        decrypt_field(KEY, blob[:2] + (2).to_bytes(2, "big") + blob[4:], HERE)


def test_decryption_errors_say_the_same_thing_and_reveal_nothing() -> None:
    blob = encrypt_field(KEY, RRN, HERE)
    attempts = [
        lambda: decrypt_field(OTHER_KEY, blob, HERE),
        lambda: decrypt_field(KEY, flip_bit(blob, 100), HERE),
        lambda: decrypt_field(KEY, blob[:10], HERE),
        lambda: decrypt_field(KEY, b"\x09" + blob[1:], HERE),
        lambda: decrypt_field(KEY, blob, FieldContext("residents", "rrn", "another")),
        lambda: decrypt_field(KEY[:16], blob, HERE),
        lambda: decrypt_field(KEY, b"", HERE),
    ]
    messages = set()
    for attempt in attempts:
        with pytest.raises(DecryptionError) as caught:
            attempt()
        error = caught.value
        text = f"{error} {error!r}"
        messages.add(str(error))
        for secret in (RRN, "1234567", KEY.hex(), repr(KEY), blob.hex(), repr(blob)):
            assert secret not in text
        # No chained exception whose text a traceback would print.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    assert len(messages) == 1


def test_authentic_bytes_that_are_not_text_fail_as_a_field_but_open_as_bytes() -> None:
    blob = encrypt_bytes(KEY, b"\xff\xfe\xfd", HERE)
    with pytest.raises(DecryptionError):
        decrypt_field(KEY, blob, HERE)
    assert decrypt_bytes(KEY, blob, HERE) == b"\xff\xfe\xfd"


def test_a_wrong_sized_key_or_generation_is_refused_before_encrypting() -> None:
    with pytest.raises(ValueError, match="32-byte key"):
        encrypt_field(KEY[:16], RRN, HERE)
    with pytest.raises(ValueError, match="two bytes"):
        encrypt_field(KEY, RRN, HERE, key_generation=0x10000)
    with pytest.raises(ValueError, match="two bytes"):
        encrypt_field(KEY, RRN, HERE, key_generation=-1)
    with pytest.raises(ValueError, match="no algorithm"):
        encrypt_field(KEY, RRN, HERE, algorithm_id=99)


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [("", "rrn", "1"), ("residents", "", "1"), ("residents", "rrn", "")],
)
def test_a_context_with_an_empty_part_is_refused(table: str, column: str, row_id: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        FieldContext(table, column, row_id)


@dataclass(frozen=True, slots=True)
class ChaChaStandIn:
    """Stands in for a future KCMVP cipher (ARIA-GCM): another AEAD under another id."""

    algorithm_id: int = 250
    name: str = "ChaCha20-Poly1305 (test stand-in)"
    key_bytes: int = 32
    nonce_bytes: int = 12
    tag_bytes: int = 16

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        return ChaCha20Poly1305(key).decrypt(nonce, sealed, aad)


def test_a_new_algorithm_seals_under_its_own_id_while_old_values_still_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A private registry copy, so the stand-in never leaks into other tests.
    monkeypatch.setattr(cipher, "_ALGORITHMS", dict(cipher._ALGORITHMS))
    old = encrypt_field(KEY, RRN, HERE)
    register_algorithm(ChaChaStandIn())
    new = encrypt_field(KEY, RRN, HERE, algorithm_id=250)
    assert new[1] == 250
    assert decrypt_field(KEY, new, HERE) == RRN
    assert decrypt_field(KEY, old, HERE) == RRN
    # The id is authenticated: relabelling a value with another algorithm fails.
    with pytest.raises(DecryptionError):
        decrypt_field(KEY, new[:1] + bytes([AES_256_GCM_ID]) + new[2:], HERE)


def test_an_algorithm_id_is_never_reused_or_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cipher, "_ALGORITHMS", dict(cipher._ALGORITHMS))
    with pytest.raises(ValueError, match="already registered"):
        register_algorithm(ChaChaStandIn(algorithm_id=AES_256_GCM_ID))
    with pytest.raises(ValueError, match="one byte"):
        register_algorithm(ChaChaStandIn(algorithm_id=0))
    with pytest.raises(ValueError, match="one byte"):
        register_algorithm(ChaChaStandIn(algorithm_id=256))


# A resident's key as the vault holds it: the bytes keep their AESGCM object (built once).
FIELD_KEY = FieldKey(KEY)
OTHER_FIELD_KEY = FieldKey(OTHER_KEY)


@given(value=st.text(), context=contexts, generation=generations)
def test_a_field_key_and_plain_bytes_make_and_open_the_same_blobs(
    value: str, context: FieldContext, generation: int
) -> None:
    # The FieldKey fast path (generation 1) and the general path are one format.
    from_fast = encrypt_field(FIELD_KEY, value, context, generation)
    from_general = encrypt_field(KEY, value, context, generation)
    assert decrypt_field(KEY, from_fast, context) == value
    assert decrypt_field(FIELD_KEY, from_general, context) == value
    assert decrypt_field(FIELD_KEY, from_fast, context) == value
    assert len(from_fast) == len(from_general)
    assert from_fast[:4] == from_general[:4]


def test_a_field_key_still_fails_every_tampered_truncated_moved_or_foreign_blob() -> None:
    blob = encrypt_field(FIELD_KEY, RRN, HERE)
    for bit in range(len(blob) * 8):
        with pytest.raises(DecryptionError):
            decrypt_field(FIELD_KEY, flip_bit(blob, bit), HERE)
    for end in range(len(blob)):
        with pytest.raises(DecryptionError):
            decrypt_field(FIELD_KEY, blob[:end], HERE)
    elsewhere = [
        FieldContext("residents", "rrn", "0d7e5b8c-2f6a-4c1b-8e3d-9a0b1c2d3e4f"),
        FieldContext("residents", "phone", HERE.row_id),
        FieldContext("guardians", "rrn", HERE.row_id),
    ]
    for other in elsewhere:
        with pytest.raises(DecryptionError):
            decrypt_field(FIELD_KEY, blob, other)
    with pytest.raises(DecryptionError):
        decrypt_field(OTHER_FIELD_KEY, blob, HERE)
    with pytest.raises(DecryptionError):  # relabelled with another generation
        decrypt_field(FIELD_KEY, blob[:2] + (2).to_bytes(2, "big") + blob[4:], HERE)
    with pytest.raises(DecryptionError):  # authentic bytes that are not text
        decrypt_field(FIELD_KEY, encrypt_bytes(FIELD_KEY, b"\xff\xfe", HERE), HERE)


def test_a_field_key_builds_its_cipher_object_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[bytes] = []
    real = cipher.AESGCM

    def counting(key: bytes) -> object:
        built.append(key)
        return real(key)

    monkeypatch.setattr(cipher, "AESGCM", counting)
    key = FieldKey(secrets.token_bytes(32))
    for n in range(20):
        context = FieldContext("residents", "name", str(n))
        assert decrypt_field(key, encrypt_field(key, "김민준", context), context) == "김민준"
    assert len(built) == 1
    # Plain bytes still work, building one per call (the slow path, kept for other callers).
    plain = bytes(key)
    assert decrypt_field(plain, encrypt_field(plain, "김민준", HERE), HERE) == "김민준"
    assert len(built) == 3


def test_a_field_key_of_the_wrong_size_is_refused_and_never_printed() -> None:
    for size in (0, 16, 24, 31, 33):
        with pytest.raises(ValueError, match="32 bytes"):
            FieldKey(secrets.token_bytes(size))
    assert KEY.hex() not in repr(FIELD_KEY)
    assert repr(KEY) not in f"{FIELD_KEY!r} {FIELD_KEY!s:.0}"
    assert FIELD_KEY == KEY and hash(FIELD_KEY) == hash(KEY)


def test_a_context_encodes_its_parts_length_prefixed_and_compares_by_them() -> None:
    context = FieldContext("residents", "rrn", "r-1")
    assert context.encode() == cipher.length_prefixed(
        cipher.FIELD_DOMAIN, b"residents", b"rrn", b"r-1"
    )
    same = FieldContext("residents", "rrn", "r-1")
    assert context == same and hash(context) == hash(same)
    assert context != FieldContext("residents", "rrn", "r-2")
    assert (context.table, context.column, context.row_id) == ("residents", "rrn", "r-1")
    assert "r-1" in repr(context)
