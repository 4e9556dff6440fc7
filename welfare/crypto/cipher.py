"""Field encryption: authenticated, versioned ciphertexts bound to the table, column and row."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Blob layout (all integers big-endian):
#   version (1 byte) | algorithm id (1 byte) | data-key generation (2 bytes) | nonce | sealed
# where `sealed` is the ciphertext followed by the authentication tag. The whole header is part of
# the associated data, so changing any header bit fails authentication, not just the ciphertext.
FORMAT_VERSION: Final = 1
HEADER: Final = struct.Struct(">BBH")
HEADER_BYTES: Final = HEADER.size
AES_256_GCM_ID: Final = 1
DATA_KEY_BYTES: Final = 32
MAX_KEY_GENERATION: Final = 0xFFFF

# Labels that open the associated data, so a field value and a wrapped data key can never be
# mistaken for one another even if both were ever sealed under the same key.
FIELD_DOMAIN: Final = b"welfare-field"
DATA_KEY_DOMAIN: Final = b"welfare-data-key"

_LENGTH: Final = struct.Struct(">I")


class DecryptionError(Exception):
    """A value could not be decrypted; deliberately says nothing about why or about the value.

    Wrong key, tampering, truncation, an unknown format and a value copied from another place all
    look the same to the caller, so the error can be neither an oracle nor a leak.
    """

    def __init__(self, message: str = "the value could not be decrypted") -> None:
        super().__init__(message)


class FieldAlgorithm(Protocol):
    """An AEAD cipher that can seal field values; registered under a one-byte id."""

    @property
    def algorithm_id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def key_bytes(self) -> int: ...

    @property
    def nonce_bytes(self) -> int: ...

    @property
    def tag_bytes(self) -> int: ...

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Return ciphertext followed by the tag."""
        ...

    def open(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Return the plaintext, or raise `cryptography.exceptions.InvalidTag`."""
        ...


@dataclass(frozen=True, slots=True)
class Aes256Gcm:
    """AES-256-GCM from `cryptography` (OpenSSL), with the 96-bit nonce GCM is designed for."""

    algorithm_id: int = AES_256_GCM_ID
    name: str = "AES-256-GCM"
    key_bytes: int = 32
    nonce_bytes: int = 12
    tag_bytes: int = 16

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return AESGCM(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        return AESGCM(key).decrypt(nonce, sealed, aad)


# Korean public bodies may have to use a KCMVP-validated cipher (ARIA) instead of AES; a new
# algorithm registers here under a new id, and old values keep decrypting by the id they carry.
_ALGORITHMS: dict[int, FieldAlgorithm] = {AES_256_GCM_ID: Aes256Gcm()}


def register_algorithm(algorithm: FieldAlgorithm) -> None:
    """Make `algorithm` available for sealing and opening under its id (ids are never reused)."""
    if not 0 < algorithm.algorithm_id <= 0xFF:
        raise ValueError("an algorithm id is one byte and never 0")
    if algorithm.algorithm_id in _ALGORITHMS:
        raise ValueError(f"algorithm id {algorithm.algorithm_id} is already registered")
    _ALGORITHMS[algorithm.algorithm_id] = algorithm


@dataclass(frozen=True, slots=True)
class FieldContext:
    """Where an encrypted value lives; it is authenticated with the value, never stored in it."""

    table: str
    column: str
    row_id: str
    # Computed once here: a row's context is used for every field it encrypts or decrypts.
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table, column, row_id = self.table, self.column, self.row_id
        # An empty part would bind the value to "any row" (or column), defeating the point.
        if not (
            isinstance(table, str)
            and isinstance(column, str)
            and isinstance(row_id, str)
            and table
            and column
            and row_id
        ):
            raise ValueError("a field context needs a non-empty table, column and row id")
        # length_prefixed(FIELD_DOMAIN, table, column, row_id), unrolled: a context is built for
        # every value read or written, and the generic call measurably slowed round trips.
        t, c, r = table.encode("utf-8"), column.encode("utf-8"), row_id.encode("utf-8")
        pack = _pack_length
        encoded = b"".join((_FIELD_PREFIX, pack(len(t)), t, pack(len(c)), c, pack(len(r)), r))
        object.__setattr__(self, "_encoded", encoded)

    def encode(self) -> bytes:
        """The canonical bytes: each part length-prefixed, so ("a|b", "c") != ("a", "b|c")."""
        return self._encoded


def length_prefixed(*parts: bytes) -> bytes:
    """An injective encoding of a sequence of byte strings (4-byte big-endian length each)."""
    return b"".join([_LENGTH.pack(len(part)) + part for part in parts])


_FIELD_PREFIX: Final = length_prefixed(FIELD_DOMAIN)
_pack_length: Final = _LENGTH.pack


def encrypt_field(
    data_key: bytes,
    plaintext: str,
    context: FieldContext,
    key_generation: int = 1,
    *,
    algorithm_id: int = AES_256_GCM_ID,
) -> bytes:
    """Encrypt one text value for the place `context` names, under the resident's data key."""
    return seal(
        data_key,
        plaintext.encode("utf-8"),
        context.encode(),
        key_generation=key_generation,
        algorithm_id=algorithm_id,
    )


def decrypt_field(data_key: bytes, blob: bytes, context: FieldContext) -> str:
    """Decrypt a value produced by `encrypt_field` for the same place; else `DecryptionError`."""
    plaintext = unseal(data_key, blob, context.encode())
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        # Authentic bytes that are not text (sealed with encrypt_bytes): still no detail leaks.
        raise DecryptionError from None


def encrypt_bytes(
    data_key: bytes,
    plaintext: bytes,
    context: FieldContext,
    key_generation: int = 1,
    *,
    algorithm_id: int = AES_256_GCM_ID,
) -> bytes:
    """Like `encrypt_field`, for binary values (attachments, serialized structures)."""
    return seal(
        data_key,
        plaintext,
        context.encode(),
        key_generation=key_generation,
        algorithm_id=algorithm_id,
    )


def decrypt_bytes(data_key: bytes, blob: bytes, context: FieldContext) -> bytes:
    return unseal(data_key, blob, context.encode())


def key_generation_of(blob: bytes) -> int:
    """The data-key generation a blob claims (unauthenticated until it decrypts), for re-keying."""
    if len(blob) < HEADER_BYTES:
        raise DecryptionError
    return int(HEADER.unpack_from(blob)[2])


def seal(
    key: bytes,
    plaintext: bytes,
    binding: bytes,
    *,
    key_generation: int,
    algorithm_id: int = AES_256_GCM_ID,
) -> bytes:
    """Seal `plaintext` with the header and `binding` (a canonical encoding) as associated data."""
    algorithm = _ALGORITHMS.get(algorithm_id)
    if algorithm is None:
        raise ValueError(f"no algorithm is registered under id {algorithm_id}")
    # Wrong key sizes and generations are programming errors: refuse loudly, before any output.
    if len(key) != algorithm.key_bytes:
        raise ValueError(f"{algorithm.name} needs a {algorithm.key_bytes}-byte key")
    if not 0 <= key_generation <= MAX_KEY_GENERATION:
        raise ValueError("a key generation must fit in two bytes")
    header = HEADER.pack(FORMAT_VERSION, algorithm_id, key_generation)
    # A fresh random nonce per value. NIST SP 800-38D caps random 96-bit nonces at 2^32 values
    # per key (nonce collision below 2^-32); one resident's data key seals far fewer.
    nonce = os.urandom(algorithm.nonce_bytes)
    return header + nonce + algorithm.seal(key, nonce, plaintext, header + binding)


def unseal(key: bytes, blob: bytes, binding: bytes) -> bytes:
    """Open a blob made by `seal` with the same `binding`; every failure is `DecryptionError`."""
    # Two bytes read directly rather than through HEADER.unpack_from: this is the hot path.
    if len(blob) < HEADER_BYTES or blob[0] != FORMAT_VERSION:
        raise DecryptionError
    algorithm = _ALGORITHMS.get(blob[1])
    if algorithm is None:
        raise DecryptionError
    nonce_end = HEADER_BYTES + algorithm.nonce_bytes
    if len(blob) < nonce_end + algorithm.tag_bytes:
        raise DecryptionError
    try:
        return algorithm.open(
            key, blob[HEADER_BYTES:nonce_end], blob[nonce_end:], blob[:HEADER_BYTES] + binding
        )
    # InvalidTag is the tamper case; ValueError/TypeError cover a key of the wrong size or type.
    # `from None` keeps the original exception (and anything it quotes) out of tracebacks.
    except (InvalidTag, ValueError, TypeError):
        raise DecryptionError from None
