"""Client idempotency keys (`client_ref`, a gateway's event id): a retried request never creates
twice, and a key is never silently answered for another request.

Same key and same body: the first result. Same key, another body (another outcome, another
resident): 422 `idempotency_key_reused`, because answering with the first result would tell the
client its second request was recorded when it was not. The body is compared through a keyed
MAC (the keyring's index key), so the database never holds a plain digest of a note.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.orm import Session

from services import vault
from welfare.errors import InvalidInput

KEY_REUSED = (
    "같은 client_ref로 다른 내용이 이미 기록되었습니다. 새 기록이면 새 client_ref를 쓰세요 "
    "(this client_ref was used for another request: use a new client_ref for a new record)"
)


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"

    def __init__(self, field: str = "client_ref") -> None:
        super().__init__({field: [KEY_REUSED]})


def request_mac(session: Session, purpose: str, fields: Mapping[str, Any]) -> bytes:
    """A keyed MAC of the request a key came with, over its fields in a canonical form."""
    canonical = json.dumps(
        {k: _plain(v) for k, v in fields.items()}, sort_keys=True, ensure_ascii=False
    )
    return vault.indexer(session).full(f"idempotency.{purpose}", canonical)


def same_request(stored: bytes | None, mac: bytes) -> bool:
    """Whether a replayed key came with the request it was first used for. A first use recorded
    before MACs were kept (None) counts as the same: it is answered as before."""
    return stored is None or hmac.compare_digest(stored, mac)


def lock_refs(session: Session, staff_id: uuid.UUID | None, refs: Iterable[str]) -> None:
    """Hold each (sender, ref) until the transaction ends, before looking the ref up.

    On PostgreSQL contacts are partitioned by month and their unique index includes
    `occurred_at`, so it no longer stops the same ref from landing twice with two bodies at
    once; this lock does (per ref, so no other writer waits). One statement for a whole batch,
    in one order, so two batches sharing refs queue rather than deadlock. SQLite needs nothing:
    its write transactions already run one at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({_ref_key(staff_id, ref) for ref in refs})
    if not keys:
        return
    session.execute(
        text("SELECT pg_advisory_xact_lock(k) FROM unnest(:keys) AS k ORDER BY k").bindparams(
            bindparam("keys", type_=ARRAY(BIGINT))
        ),
        {"keys": keys},
    )


def _ref_key(staff_id: uuid.UUID | None, ref: str) -> int:
    digest = hashlib.sha256(f"welfare:client-ref:{staff_id}:{ref}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
