"""Small secrets sealed under the active master key (e.g. a staff member's TOTP seed).

Resident data uses per-resident data keys (envelope encryption); these are credentials of staff,
few and small, so they are sealed directly: header = master key id, AAD = purpose and owner id.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from welfare.crypto.keyring import Keyring, KeyringError

_VERSION = b"\x01"


class SealError(Exception):
    """A sealed secret could not be opened (tampered, moved, or its key is gone)."""


def seal(keyring: Keyring, plaintext: bytes, *, purpose: str, owner: str) -> bytes:
    key = keyring.active
    key_id = key.id.encode("ascii")
    nonce = os.urandom(12)
    header = _VERSION + bytes([len(key_id)]) + key_id
    body = AESGCM(key.secret).encrypt(nonce, plaintext, _aad(header, purpose, owner))
    return header + nonce + body


def open_sealed(keyring: Keyring, blob: bytes, *, purpose: str, owner: str) -> bytes:
    try:
        if blob[:1] != _VERSION:
            raise SealError("unknown sealed format")
        size = blob[1]
        header = blob[: 2 + size]
        key = keyring.master(header[2:].decode("ascii"))
        nonce, body = blob[2 + size : 14 + size], blob[14 + size :]
        return AESGCM(key.secret).decrypt(nonce, body, _aad(header, purpose, owner))
    except (IndexError, UnicodeDecodeError, KeyringError, InvalidTag, ValueError):
        raise SealError("sealed secret could not be opened") from None


def sealed_key_id(blob: bytes) -> str:
    """The id of the master key a sealed secret is under (read from its header, not verified)."""
    try:
        if blob[:1] != _VERSION:
            raise SealError("unknown sealed format")
        return blob[2 : 2 + blob[1]].decode("ascii")
    except (IndexError, UnicodeDecodeError):
        raise SealError("sealed secret could not be opened") from None


def reseal(keyring: Keyring, blob: bytes, *, purpose: str, owner: str) -> bytes:
    """`blob` sealed again under the active master key; returned as it is if already there."""
    if sealed_key_id(blob) == keyring.active.id:
        return blob
    return seal(
        keyring,
        open_sealed(keyring, blob, purpose=purpose, owner=owner),
        purpose=purpose,
        owner=owner,
    )


def _aad(header: bytes, purpose: str, owner: str) -> bytes:
    return header + b"\x00" + purpose.encode() + b"\x00" + owner.encode()
