"""Envelope keys: per-resident data keys, wrapped by the keyring's versioned master keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from welfare.crypto.cipher import (
    DATA_KEY_BYTES,
    DATA_KEY_DOMAIN,
    DecryptionError,
    FieldKey,
    length_prefixed,
    seal,
    unseal,
)
from welfare.crypto.keyring import Keyring, KeyringError

# A wrapped key is named by its master key's id (outside the blob), not by a generation number.
_NO_GENERATION: Final = 0


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key sealed under one master key; safe to store beside the data it protects."""

    master_key_id: str
    blob: bytes

    def __repr__(self) -> str:  # the blob is not secret, but it is noise in logs
        return f"WrappedKey(master_key_id={self.master_key_id!r})"


def new_data_key() -> FieldKey:
    """A fresh random data key for one resident (or one unlinked caller)."""
    return FieldKey(secrets.token_bytes(DATA_KEY_BYTES))


def wrap_data_key(keyring: Keyring, data_key: bytes, subject_id: str) -> WrappedKey:
    """Seal `data_key` under the active master key, bound to `subject_id` and that key's id."""
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes")
    master = keyring.active
    blob = seal(
        master.secret,
        data_key,
        _binding(master.id, subject_id),
        key_generation=_NO_GENERATION,
    )
    return WrappedKey(master_key_id=master.id, blob=blob)


def unwrap_data_key(keyring: Keyring, wrapped: WrappedKey, subject_id: str) -> FieldKey:
    """The data key, if `wrapped` was made for `subject_id` under an active or decrypt-only key.

    Retired and unknown master keys, tampering, and a wrapped key copied to another subject all
    raise the same `DecryptionError`.
    """
    try:
        master = keyring.master(wrapped.master_key_id)
    except KeyringError:
        raise DecryptionError("the data key could not be unwrapped") from None
    try:
        data_key = unseal(master.secret, wrapped.blob, _binding(master.id, subject_id))
    except DecryptionError:
        raise DecryptionError("the data key could not be unwrapped") from None
    if len(data_key) != DATA_KEY_BYTES:  # authentic but not a data key: a wiring bug upstream
        raise DecryptionError("the data key could not be unwrapped")
    return FieldKey(data_key)


def rewrap(keyring: Keyring, wrapped: WrappedKey, subject_id: str) -> WrappedKey:
    """`wrapped` moved to the active master key; the data key (and so every value) is unchanged.

    A key already on the active master key is returned as it is, without unwrapping, so a
    rotation that is killed and restarted redoes no work.
    """
    if wrapped.master_key_id == keyring.active.id:
        return wrapped
    return wrap_data_key(keyring, unwrap_data_key(keyring, wrapped, subject_id), subject_id)


def _binding(master_key_id: str, subject_id: str) -> bytes:
    if not subject_id:
        raise ValueError("a data key is always bound to a subject id")
    return length_prefixed(
        DATA_KEY_DOMAIN, master_key_id.encode("utf-8"), subject_id.encode("utf-8")
    )
