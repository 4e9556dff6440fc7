"""Field encryption: authenticated, versioned ciphertexts bound to the table, column and row."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
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


class FieldKey(bytes):
    """A data key's bytes that keep the cipher object made from them, built on first use.

    Building an `AESGCM` (the OpenSSL key schedule) costs more than sealing a short value, and
    a resident's key seals and opens many values. The object lives exactly as long as this key
    object does: nothing outside it keeps it (no global cache), so dropping a key from the
    `DataKeyCache` (erasure, expiry, a keyring change) drops its cipher object with it. Equal to,
    and usable wherever, plain `bytes` are; plain bytes still work everywhere, just slower.
    """

    _aesgcm: AESGCM

    def __new__(cls, key: bytes) -> FieldKey:
        # Its fast paths skip `seal`'s size check, so the size is checked here, once: AESGCM
        # would take a 16-byte key as AES-128.
        if len(key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes")
        return super().__new__(cls, key)

    def __repr__(self) -> str:  # never print key material
        return "FieldKey(...)"

    def aesgcm(self) -> AESGCM:
        """The AESGCM object for this key (a race builds two; either is correct)."""
        try:
            return self._aesgcm
        except AttributeError:
            aead = AESGCM(self)
            self._aesgcm = aead
            return aead


def _aesgcm(key: bytes) -> AESGCM:
    return key.aesgcm() if type(key) is FieldKey else AESGCM(key)


@dataclass(frozen=True, slots=True)
class Aes256Gcm:
    """AES-256-GCM from `cryptography` (OpenSSL), with the 96-bit nonce GCM is designed for."""

    algorithm_id: int = AES_256_GCM_ID
    name: str = "AES-256-GCM"
    key_bytes: int = 32
    nonce_bytes: int = 12
    tag_bytes: int = 16

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return _aesgcm(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        return _aesgcm(key).decrypt(nonce, sealed, aad)


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


class FieldContext:
    """Where an encrypted value lives; it is authenticated with the value, never stored in it.

    Compared and hashed by (table, column, row_id); its attributes are `Final` (mypy refuses
    an assignment). A plain slotted class rather than a frozen dataclass: a context is built for
    every value read or written, and the frozen dataclass's `object.__setattr__` per field was a
    fifth of a field round trip.
    """

    __slots__ = ("_aad", "column", "row_id", "table")

    def __init__(self, table: str, column: str, row_id: str) -> None:
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
        # length_prefixed(FIELD_DOMAIN, table, column, row_id): the (table, column) part is
        # encoded once per place and kept, only the row id is encoded per context.
        place = _PLACES.get((table, column))
        if place is None:
            place = _place_prefix(table, column)
        r = row_id.encode("utf-8")
        self.table: Final = table
        self.column: Final = column
        self.row_id: Final = row_id
        # The associated data of a generation-1 AES-256-GCM value here (its header + encode()),
        # made once: the common case then seals and opens without building it per value.
        self._aad: Final = place + _pack_length(len(r)) + r

    def __eq__(self, other: object) -> bool:
        if type(other) is not FieldContext:
            return NotImplemented
        return (self.table, self.column, self.row_id) == (other.table, other.column, other.row_id)

    def __hash__(self) -> int:
        return hash((self.table, self.column, self.row_id))

    def __repr__(self) -> str:
        return f"FieldContext(table={self.table!r}, column={self.column!r}, row_id={self.row_id!r})"

    def encode(self) -> bytes:
        """The canonical bytes: each part length-prefixed, so ("a|b", "c") != ("a", "b|c")."""
        return self._aad[HEADER_BYTES:]


# (table, column) -> the generation-1 AES-256-GCM header + length_prefixed(FIELD_DOMAIN, table,
# column). Places are names in the code, a few dozen; the bound only guards against a caller that
# makes them up.
_PLACES: dict[tuple[str, str], bytes] = {}
_MAX_PLACES: Final = 4096


def _place_prefix(table: str, column: str) -> bytes:
    prefix = _AES_GEN1_HEADER + length_prefixed(
        FIELD_DOMAIN, table.encode("utf-8"), column.encode("utf-8")
    )
    if len(_PLACES) >= _MAX_PLACES:
        _PLACES.clear()
    _PLACES[(table, column)] = prefix
    return prefix


def length_prefixed(*parts: bytes) -> bytes:
    """An injective encoding of a sequence of byte strings (4-byte big-endian length each)."""
    return b"".join([_LENGTH.pack(len(part)) + part for part in parts])


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
    if algorithm_id == AES_256_GCM_ID and key_generation == 1 and type(data_key) is FieldKey:
        # The common case, inlined: a resident's cached key, AES-256-GCM, generation 1. Same
        # bytes as `seal` makes (a test checks they open each other).
        try:
            aead = data_key._aesgcm
        except AttributeError:
            aead = data_key.aesgcm()
        nonce = _urandom(12)
        return b"".join(
            (_AES_GEN1_HEADER, nonce, aead.encrypt(nonce, plaintext.encode(), context._aad))
        )
    return seal(
        data_key,
        plaintext.encode("utf-8"),
        context.encode(),
        key_generation=key_generation,
        algorithm_id=algorithm_id,
    )


def decrypt_field(data_key: bytes, blob: bytes, context: FieldContext) -> str:
    """Decrypt a value produced by `encrypt_field` for the same place; else `DecryptionError`."""
    if (
        type(data_key) is FieldKey
        and blob[:HEADER_BYTES] == _AES_GEN1_HEADER
        and len(blob) >= _AES_MIN_BLOB
    ):
        # The common case, inlined (see encrypt_field); any other blob takes the general path.
        try:
            try:
                aead = data_key._aesgcm
            except AttributeError:
                aead = data_key.aesgcm()
            plaintext = aead.decrypt(
                blob[HEADER_BYTES:_AES_NONCE_END], blob[_AES_NONCE_END:], context._aad
            )
        except (InvalidTag, ValueError, TypeError):
            raise DecryptionError from None
    else:
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


_urandom: Final = os.urandom
_AES_GEN1_HEADER: Final = HEADER.pack(FORMAT_VERSION, AES_256_GCM_ID, 1)
_AES_NONCE_END: Final = HEADER_BYTES + 12
_AES_MIN_BLOB: Final = _AES_NONCE_END + 16


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
