"""The one path for personal data: sealed with each subject's data key, opened with a record.

Values are bound to (table, column, row id); a value moved elsewhere fails closed with a generic
error and a security event, never plaintext. Data keys are wrapped by the keyring's active master
key and cached unwrapped for a few minutes; erasure destroys the wrapped key (crypto-shredding).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import audit, key_retirement
from welfare.crypto.blind_index import BlindIndexer
from welfare.crypto.cache import DataKeyCache
from welfare.crypto.cipher import DecryptionError, FieldContext, decrypt_field, encrypt_field
from welfare.crypto.envelope import WrappedKey, new_data_key, unwrap_data_key, wrap_data_key
from welfare.crypto.keyring import Keyring
from welfare.database import fresher_keyring, session_keyring
from welfare.errors import DomainError, Gone
from welfare.models import Actor, DataKey

log = logging.getLogger("welfare.vault")

_cache = DataKeyCache(max_entries=20_000, ttl=timedelta(minutes=5))


class UnreadableData(DomainError):
    """A value failed authentication: tampered, moved, or its key is gone. Says nothing more."""

    status = 500
    code = "data_unreadable"
    title = "데이터를 읽을 수 없습니다. 보안 담당자에게 알리세요 (data could not be read)"


def create_data_key(session: Session, subject_id: uuid.UUID, now: datetime) -> bytes:
    """A fresh data key for `subject_id`, wrapped under a master key not retired meanwhile
    (services/key_retirement.py), its row added to the session."""
    key, row = _data_key_row(key_retirement.wrapping_keyring(session), subject_id, now)
    session.add(DataKey(**row))
    return key


def data_key_row(
    session: Session, subject_id: uuid.UUID, now: datetime
) -> tuple[bytes, dict[str, Any]]:
    """A fresh data key and the column values of its wrapped row (bulk inserts use them),
    wrapped under the session's keyring: whoever inserts the row checks its master key
    (`key_retirement.check_wrapped_under`)."""
    return _data_key_row(session_keyring(session), subject_id, now)


def _data_key_row(
    keyring: Keyring, subject_id: uuid.UUID, now: datetime
) -> tuple[bytes, dict[str, Any]]:
    key = new_data_key()
    wrapped = wrap_data_key(keyring, key, str(subject_id))
    return key, {
        "subject_id": subject_id,
        "master_key_id": wrapped.master_key_id,
        "wrapped": wrapped.blob,
        "created_at": now,
    }


def data_key(session: Session, subject_id: uuid.UUID) -> bytes:
    row = session.get(DataKey, subject_id)
    if row is None or row.wrapped is None or row.master_key_id is None:
        raise Gone
    wrapped = WrappedKey(master_key_id=row.master_key_id, blob=row.wrapped)
    return _cache.get_or_unwrap(str(subject_id), wrapped, lambda w, s: _unwrap(session, w, s))


def data_keys(session: Session, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, bytes]:
    """The data keys of many subjects in one query (a page of a list); destroyed or missing
    keys are absent from the result, so their values read as gone."""
    wanted = sorted(set(subject_ids))
    if not wanted:
        return {}
    rows = session.scalars(select(DataKey).where(DataKey.subject_id.in_(wanted))).all()
    found = {}
    for row in rows:
        if row.wrapped is None or row.master_key_id is None:
            continue
        wrapped = WrappedKey(master_key_id=row.master_key_id, blob=row.wrapped)
        found[row.subject_id] = _cache.get_or_unwrap(
            str(row.subject_id), wrapped, lambda w, s: _unwrap(session, w, s)
        )
    return found


def _unwrap(session: Session, wrapped: WrappedKey, subject_id: str) -> bytes:
    """Unwrap with the session's keyring; a data key already rewrapped under a master key this
    keyring does not know yet (a rotation landed while the request ran) is tried once more with
    the keyring file's current keyring, so a rotation under load fails no request."""
    keyring = session_keyring(session)
    try:
        return unwrap_data_key(keyring, wrapped, subject_id)
    except DecryptionError:
        if any(k.id == wrapped.master_key_id for k in keyring.master_keys):
            raise  # a key it knows failed: damage, not a rotation
        fresh = fresher_keyring(session)
        if fresh is None:
            raise
        return unwrap_data_key(fresh, wrapped, subject_id)


def destroy_data_key(session: Session, subject_id: uuid.UUID, now: datetime) -> None:
    row = session.get(DataKey, subject_id)
    if row is not None:
        row.wrapped = None
        row.master_key_id = None
        row.destroyed_at = now
    _cache.invalidate(str(subject_id))


def forget_cached_keys() -> None:
    """Drop every cached data key (after a keyring change)."""
    _cache.clear()


def seal(
    session: Session,
    subject_id: uuid.UUID,
    table: str,
    column: str,
    row_id: uuid.UUID,
    *,
    plaintext: str | None,
    key: bytes | None = None,
) -> bytes | None:
    if plaintext is None:
        return None
    return sealer(key or data_key(session, subject_id), table, row_id)(column, plaintext)


def sealer(key: bytes, table: str, row_id: uuid.UUID) -> Callable[[str, str | None], bytes | None]:
    """`seal` for the columns of one row under its subject's key: the row id is written out
    once, not once per value (bulk registration seals five values a row)."""
    row = str(row_id)

    def seal_column(column: str, plaintext: str | None) -> bytes | None:
        if plaintext is None:
            return None
        return encrypt_field(key, plaintext, FieldContext(table, column, row))

    return seal_column


def open_value(
    session: Session,
    *,
    actor: Actor,
    subject_id: uuid.UUID,
    table: str,
    column: str,
    row_id: uuid.UUID,
    blob: bytes | None,
    key: bytes | None = None,
) -> str | None:
    """Decrypt one value; a failure is a security event and a generic error."""
    if blob is None:
        return None
    try:
        key = key or data_key(session, subject_id)
        return decrypt_field(key, blob, FieldContext(table, column, str(row_id)))
    except DecryptionError:
        log.warning(
            "decryption failed",
            extra={"table": table, "column": column, "subject_id": str(subject_id)},
        )
        session.rollback()
        audit.record_access(
            session,
            actor=actor,
            action="decrypt_failed",
            resident_ids=[subject_id],
            outcome="error",
            category="security",
        )
        session.commit()
        raise UnreadableData from None


@dataclass(frozen=True, slots=True)
class Sealed:
    """One value to open in a batch: whose key, and where the value lives."""

    subject_id: uuid.UUID
    table: str
    column: str
    row_id: uuid.UUID
    blob: bytes | None


def open_many(
    session: Session, *, actor: Actor, values: Sequence[Sealed]
) -> list[str | UnreadableValue | None]:
    """Decrypt a batch of values (one page of a list) with one key lookup per subject.

    Unlike `open_value`, one bad value does not fail the batch: it comes back as
    `UNREADABLE`, is logged without data, and its subjects get one `decrypt_failed` security
    record, in the caller's transaction (the caller commits). A value whose key was destroyed
    (erasure) reads as None.
    """
    keys = data_keys(session, (v.subject_id for v in values if v.blob is not None))
    opened: list[str | UnreadableValue | None] = []
    failed: set[uuid.UUID] = set()
    for value in values:
        key = keys.get(value.subject_id)
        if value.blob is None or key is None:
            opened.append(None)
            continue
        try:
            context = FieldContext(value.table, value.column, str(value.row_id))
            opened.append(decrypt_field(key, value.blob, context))
        except DecryptionError:
            log.warning(
                "decryption failed",
                extra={
                    "table": value.table,
                    "column": value.column,
                    "subject_id": str(value.subject_id),
                },
            )
            failed.add(value.subject_id)
            opened.append(UNREADABLE)
    if failed:
        audit.record_access(
            session,
            actor=actor,
            action="decrypt_failed",
            resident_ids=sorted(failed),
            outcome="error",
            category="security",
        )
    return opened


class UnreadableValue:
    """The marker `open_many` returns for a value that failed authentication."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE = UnreadableValue()


@lru_cache(maxsize=4)
def _indexer(index_key: bytes) -> BlindIndexer:
    return BlindIndexer(index_key)


def indexer(session: Session) -> BlindIndexer:
    return _indexer(session_keyring(session).index_key)
