"""Envelope keys: wrapped per subject, unwrapped by active or decrypt-only keys, rewrapped."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from welfare.crypto.cipher import (
    DecryptionError,
    FieldContext,
    FieldKey,
    decrypt_field,
    encrypt_field,
)
from welfare.crypto.envelope import (
    WrappedKey,
    new_data_key,
    rewrap,
    unwrap_data_key,
    wrap_data_key,
)
from welfare.crypto.keyring import Keyring, KeyState

ROTATED_AT = datetime(2026, 11, 24, tzinfo=UTC)
SUBJECT = "resident-6f1c2a9e"
# Hypothesis cannot use function-scoped fixtures; one keyring serves the property tests.
RING = Keyring.generate(for_development=False)

subject_ids = st.text(min_size=1, max_size=40)


@pytest.fixture
def ring() -> Keyring:
    return Keyring.generate(for_development=False)


def test_data_keys_are_32_fresh_random_bytes() -> None:
    keys = {new_data_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(key) == 32 for key in keys)
    # Field keys: each keeps its own cipher object, so a resident's values never rebuild it.
    assert all(type(key) is FieldKey for key in keys)


def test_an_unwrapped_data_key_is_a_field_key_equal_to_the_wrapped_one(ring: Keyring) -> None:
    data_key = new_data_key()
    unwrapped = unwrap_data_key(ring, wrap_data_key(ring, data_key, SUBJECT), SUBJECT)
    assert type(unwrapped) is FieldKey
    assert unwrapped == data_key
    here = FieldContext("residents", "name", SUBJECT)
    assert decrypt_field(unwrapped, encrypt_field(data_key, "김민준", here), here) == "김민준"


@given(subject=subject_ids)
def test_a_wrapped_data_key_unwraps_for_its_own_subject(subject: str) -> None:
    data_key = new_data_key()
    wrapped = wrap_data_key(RING, data_key, subject)
    assert unwrap_data_key(RING, wrapped, subject) == data_key


@given(subject=subject_ids, other=subject_ids)
def test_a_wrapped_key_copied_to_another_subject_fails(subject: str, other: str) -> None:
    assume(subject != other)
    wrapped = wrap_data_key(RING, new_data_key(), subject)
    with pytest.raises(DecryptionError):
        unwrap_data_key(RING, wrapped, other)


def test_wrapping_uses_the_active_master_key(ring: Keyring) -> None:
    assert wrap_data_key(ring, new_data_key(), SUBJECT).master_key_id == ring.active.id
    rotated = ring.with_new_active_key(ROTATED_AT)
    assert wrap_data_key(rotated, new_data_key(), SUBJECT).master_key_id == rotated.active.id


def test_after_rotation_old_wrapped_keys_unwrap_with_the_decrypt_only_key(ring: Keyring) -> None:
    data_key = new_data_key()
    wrapped = wrap_data_key(ring, data_key, SUBJECT)
    rotated = ring.with_new_active_key(ROTATED_AT)
    assert rotated.master(wrapped.master_key_id).state is KeyState.DECRYPT_ONLY
    assert unwrap_data_key(rotated, wrapped, SUBJECT) == data_key


def test_rewrap_moves_to_the_active_key_and_keeps_the_data_key(ring: Keyring) -> None:
    data_key = new_data_key()
    context = FieldContext("residents", "name", SUBJECT)
    value = encrypt_field(data_key, "김민준", context)
    old = wrap_data_key(ring, data_key, SUBJECT)
    rotated = ring.with_new_active_key(ROTATED_AT)

    moved = rewrap(rotated, old, SUBJECT)

    assert moved.master_key_id == rotated.active.id != old.master_key_id
    assert unwrap_data_key(rotated, moved, SUBJECT) == data_key
    # Rotation touched only the wrapped key: values encrypted before it still decrypt.
    assert decrypt_field(unwrap_data_key(rotated, moved, SUBJECT), value, context) == "김민준"
    # And once the old key is retired, only the rewrapped copy still opens.
    retired = rotated.with_key_state(old.master_key_id, KeyState.RETIRED)
    assert unwrap_data_key(retired, moved, SUBJECT) == data_key


def test_rewrapping_a_key_already_on_the_active_key_is_a_no_op(ring: Keyring) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), SUBJECT)
    assert rewrap(ring, wrapped, SUBJECT) is wrapped


def test_rewrapping_twice_after_a_killed_rotation_gives_the_same_data_key(ring: Keyring) -> None:
    data_key = new_data_key()
    rotated = ring.with_new_active_key(ROTATED_AT)
    once = rewrap(rotated, wrap_data_key(ring, data_key, SUBJECT), SUBJECT)
    assert rewrap(rotated, once, SUBJECT) is once
    assert unwrap_data_key(rotated, once, SUBJECT) == data_key


def test_a_retired_master_key_refuses_to_unwrap_or_rewrap(ring: Keyring) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), SUBJECT)
    rotated = ring.with_new_active_key(ROTATED_AT)
    retired = rotated.with_key_state(wrapped.master_key_id, KeyState.RETIRED)
    with pytest.raises(DecryptionError, match="could not be unwrapped"):
        unwrap_data_key(retired, wrapped, SUBJECT)
    with pytest.raises(DecryptionError):
        rewrap(retired, wrapped, SUBJECT)


def test_an_unknown_master_key_refuses_to_unwrap(ring: Keyring) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), SUBJECT)
    other_ring = Keyring.generate(for_development=False)
    with pytest.raises(DecryptionError):
        unwrap_data_key(other_ring, wrapped, SUBJECT)
    # Same id, different secret (a keyring restored from the wrong place) fails the same way.
    impostor = replace(
        other_ring,
        master_keys=(replace(other_ring.active, id=wrapped.master_key_id),),
    )
    with pytest.raises(DecryptionError):
        unwrap_data_key(impostor, wrapped, SUBJECT)


def test_a_wrapped_key_relabelled_with_another_master_key_id_fails(ring: Keyring) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), SUBJECT)
    rotated = ring.with_new_active_key(ROTATED_AT)
    relabelled = WrappedKey(master_key_id=rotated.active.id, blob=wrapped.blob)
    with pytest.raises(DecryptionError):
        unwrap_data_key(rotated, relabelled, SUBJECT)


@given(data=st.data())
def test_any_single_flipped_bit_in_a_wrapped_key_fails(data: st.DataObject) -> None:
    wrapped = wrap_data_key(RING, new_data_key(), SUBJECT)
    bit = data.draw(st.integers(min_value=0, max_value=len(wrapped.blob) * 8 - 1), label="bit")
    blob = bytearray(wrapped.blob)
    blob[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionError):
        unwrap_data_key(RING, WrappedKey(wrapped.master_key_id, bytes(blob)), SUBJECT)


def test_a_wrapped_key_never_decrypts_as_a_field_value(ring: Keyring) -> None:
    # Even under the same key and a look-alike place, the two domains never overlap.
    wrapped = wrap_data_key(ring, new_data_key(), SUBJECT)
    context = FieldContext("welfare-data-key", ring.active.id, SUBJECT)
    with pytest.raises(DecryptionError):
        decrypt_field(ring.active.secret, wrapped.blob, context)


def test_unwrap_errors_reveal_no_key_material(ring: Keyring) -> None:
    data_key = new_data_key()
    wrapped = wrap_data_key(ring, data_key, SUBJECT)
    with pytest.raises(DecryptionError) as caught:
        unwrap_data_key(ring, wrapped, "someone-else")
    text = f"{caught.value} {caught.value!r}"
    for secret in (data_key.hex(), ring.active.secret.hex(), wrapped.blob.hex(), SUBJECT):
        assert secret not in text
    assert caught.value.__cause__ is None


def test_a_wrong_sized_data_key_or_empty_subject_is_refused(ring: Keyring) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(ring, b"short", SUBJECT)
    with pytest.raises(ValueError, match="subject"):
        wrap_data_key(ring, new_data_key(), "")


def test_a_wrapped_key_repr_shows_only_its_master_key_id(ring: Keyring) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), SUBJECT)
    assert repr(wrapped) == f"WrappedKey(master_key_id={ring.active.id!r})"
