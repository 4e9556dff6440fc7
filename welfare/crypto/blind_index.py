"""Blind indexes: keyed hashes of normalized values, so encrypted columns can still be searched.

Each column gets its own HMAC-SHA256 key, derived with HKDF-SHA256 from the keyring's index key,
so equal values in two columns (a resident's phone and a guardian's phone) index differently and
one column's index reveals nothing about another's.

Sizing the truncated indexes follows CipherSweet's blind-index planner: with R rows and an index
of L bits, a lookup returns about R / 2^L coincidences (rows that match by chance and are weeded
out by the caller after decryption). Too few bits make every lookup decrypt many rows; too many
make the index nearly unique, which lets an attacker holding the database link and count equal
values. The planner's minimum keeps coincidences at or below sqrt(R); its maximum is the widest
index that still leaves more than one coincidence. For R = 100,000 residents that is 9 to 16 bits
(16 bits: about 1.5 coincidences per lookup); for the district's whole population of 500,000,
10 to 18. A second index over the same field shares that budget, so adding one means shrinking
the first.

The RRN is the exception: it is indexed in full, because uniqueness and de-duplication need an
exact match, and its confidentiality rests on the index key staying out of the database.
"""

from __future__ import annotations

import hmac
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# 16 bits: at 100,000 residents about 1.5 coincidences per lookup, the top of the safe range.
PHONE_INDEX_BITS: Final = 16
NAME_INDEX_BITS: Final = 16
MIN_TRUNCATED_BITS: Final = 8
MAX_TRUNCATED_BITS: Final = 32

INDEX_KEY_BYTES: Final = 32
COLUMN_KEY_INFO_PREFIX: Final = b"welfare-blind-index:"


class BlindIndexer:
    """Computes blind indexes under one index key; column keys are derived once and cached.

    `column` names the indexed column and must be stable forever (changing it changes every
    index value), e.g. "residents.phone". Values must be normalized by the caller first (RRN
    digits only, phone E.164, name NFC with whitespace folded).
    """

    __slots__ = ("_column_macs", "_index_key")

    def __init__(self, index_key: bytes) -> None:
        if len(index_key) != INDEX_KEY_BYTES:
            raise ValueError(f"the index key is {INDEX_KEY_BYTES} bytes")
        self._index_key = index_key
        # Written without a lock on purpose: derivation is deterministic, so two threads racing
        # on one column store equal keyed HMACs and the dict stays consistent.
        self._column_macs: dict[str, hmac.HMAC] = {}

    def __repr__(self) -> str:  # never print key material
        return "BlindIndexer()"

    def full(self, column: str, normalized_value: str) -> bytes:
        """The whole 32-byte HMAC-SHA256, for exact, unique lookups (the RRN).

        The column's keyed HMAC is made once and copied per value (`hmac.HMAC.copy` keeps the
        key's padded blocks already hashed): less than `hmac.digest`'s time, which hashes them
        again on every call. A test checks it against `hmac.digest`.
        """
        keyed = self._column_macs.get(column)
        if keyed is None:
            keyed = self._column_macs[column] = hmac.new(
                self._column_key(column), digestmod="sha256"
            )
        mac = keyed.copy()
        mac.update(normalized_value.encode("utf-8"))
        return mac.digest()

    def truncated(self, column: str, normalized_value: str, bits: int) -> int:
        """The top `bits` bits of the HMAC as a non-negative int below 2**bits.

        A match is only a candidate: the caller decrypts and compares. Values of 32 bits exceed
        a signed 32-bit column, so store them in a BIGINT (or keep `bits` at 31 or fewer).
        """
        if not MIN_TRUNCATED_BITS <= bits <= MAX_TRUNCATED_BITS:
            raise ValueError(
                f"a truncated index has {MIN_TRUNCATED_BITS} to {MAX_TRUNCATED_BITS} bits"
            )
        top = int.from_bytes(self.full(column, normalized_value)[:4], "big")
        return top >> (MAX_TRUNCATED_BITS - bits)

    def _column_key(self, column: str) -> bytes:
        if not column:
            raise ValueError("a blind index needs a column name")
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=COLUMN_KEY_INFO_PREFIX + column.encode("utf-8"),
        ).derive(self._index_key)
