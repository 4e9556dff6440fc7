"""Access records (접속기록): append to the keyed chains, verify and prune them, query them.

Appends to one chain are serialized: PostgreSQL takes a transaction-scoped advisory lock per chain
before reading the head (writers in several processes and nodes queue there), SQLite already holds
the write lock from `BEGIN IMMEDIATE`. Correctness does not rest on the lock alone: `seq` is unique
and the head moves by compare-and-set, so a writer that somehow raced would fail, never fork the
chain. The HMAC key is the keyring's audit key, which never lives in the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Table,
    delete,
    func,
    literal,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from welfare.crypto.chain import GENESIS_HASH, canonical_json, head_mac, link_hash, same_digest
from welfare.database import database_now, session_keyring
from welfare.errors import InvalidInput
from welfare.models import (
    AccessRightChange,
    Actor,
    AuditAction,
    AuditCategory,
    AuditChain,
    AuditChainHead,
    AuditEvent,
    AuditOutcome,
    RightChange,
    Role,
)
from welfare.models.audit import ChainedRecord
from welfare.models.base import Base

R = TypeVar("R", bound=ChainedRecord)

CHAIN_MODELS: Mapping[AuditChain, type[ChainedRecord]] = {
    AuditChain.ACCESS: AuditEvent,
    AuditChain.ACCESS_RIGHTS: AccessRightChange,
}
MAX_REASON_LENGTH = 1000
MAX_PAGE_SIZE = 500
VERIFY_BATCH = 5000
# Keys that never belong in a before/after state: secrets are not access rights.
SECRET_STATE_KEYS = frozenset({"password", "password_hash", "secret", "token", "totp_secret"})
_CURSOR_PREFIX = "ae1:"


def _advisory_key(chain: AuditChain) -> int:
    """A stable signed 64-bit key per chain for pg_advisory_xact_lock."""
    digest = hashlib.sha256(f"welfare:audit-chain:{chain.value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


CHAIN_LOCK_KEYS: Mapping[AuditChain, int] = {chain: _advisory_key(chain) for chain in AuditChain}


class AuditChainBroken(RuntimeError):
    """The chain cannot be extended or pruned safely; the message names the chain and the seq,
    never anyone's data."""


# -- appending --------------------------------------------------------------------------------
def record_access(
    session: Session,
    *,
    actor: Actor,
    action: AuditAction | str,
    resident_ids: Sequence[uuid.UUID | str] = (),
    outcome: AuditOutcome | str = AuditOutcome.OK,
    reason: str | None = None,
    category: AuditCategory | str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one access record to the access chain, in the caller's transaction.

    `resident_ids` are the pseudonymous ids touched (for a search: those returned, never the
    terms). `category` defaults to `security` for authentication and integrity actions and to
    `access` otherwise. A reveal or an export that succeeded needs a reason.

    Call it as the last write before commit: from here to the end of the transaction the chain
    is locked (PostgreSQL advisory lock), so every other writer of access records waits.
    """
    try:
        action = AuditAction(action)
        outcome = AuditOutcome(outcome)
        category = (
            AuditCategory(category)
            if category is not None
            else (AuditCategory.SECURITY if action.is_security else AuditCategory.ACCESS)
        )
    except ValueError as exc:
        raise InvalidInput({"audit": [str(exc)]}) from None
    reason = (reason.strip() or None) if reason is not None else None
    if action.needs_reason and outcome is AuditOutcome.OK and reason is None:
        raise InvalidInput({"reason": [f"a reason is required for {action.value}"]})
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput({"reason": [f"at most {MAX_REASON_LENGTH} characters"]})
    values: dict[str, Any] = {
        "at": at,
        "staff_id": actor.staff_id,
        "actor_role": Role(actor.role).value,
        "action": action.value,
        "resident_ids": _resident_id_list(resident_ids),
        "outcome": outcome.value,
        "ip": _bounded(actor.ip, 45, "ip"),
        "request_id": _bounded(actor.request_id, 64, "request_id"),
        "reason": reason,
        "category": category.value,
    }
    return _append(session, AuditEvent, values)


def record_right_change(
    session: Session,
    *,
    actor: Actor,
    target_staff_id: uuid.UUID,
    change: RightChange | str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    at: datetime | None = None,
) -> AccessRightChange:
    """Append one grant, change or revocation of access rights to its own chain.

    `before`/`after` describe the rights (role, dongs, status, token ids), never secrets; sets
    are stored as sorted lists so the record reads back exactly as it was hashed.
    """
    try:
        change = RightChange(change)
    except ValueError as exc:
        raise InvalidInput({"change": [str(exc)]}) from None
    values: dict[str, Any] = {
        "at": at,
        "actor_staff_id": actor.staff_id,
        "actor_role": Role(actor.role).value,
        "target_staff_id": target_staff_id,
        "change": change.value,
        "before": _rights_state(before, "before"),
        "after": _rights_state(after, "after"),
        "ip": _bounded(actor.ip, 45, "ip"),
        "request_id": _bounded(actor.request_id, 64, "request_id"),
    }
    return _append(session, AccessRightChange, values)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A chain's head as read from `audit_chain_heads`."""

    chain: AuditChain
    last_seq: int
    last_hash: str
    anchor_seq: int
    anchor_prev_hash: str
    mac: str | None

    def mac_fields(self) -> dict[str, Any]:
        return {
            "chain": self.chain.value,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "anchor_seq": self.anchor_seq,
            "anchor_prev_hash": self.anchor_prev_hash,
        }

    @property
    def is_pristine(self) -> bool:
        """The state the migration writes: nothing appended, nothing pruned, no MAC yet."""
        return (
            self.mac is None
            and self.last_seq == 0
            and self.anchor_seq == 1
            and self.last_hash == GENESIS_HASH
            and self.anchor_prev_hash == GENESIS_HASH
        )

    def is_authentic(self, key: bytes) -> bool:
        return self.is_pristine or same_digest(self.mac, head_mac(key, self.mac_fields()))


def read_head(session: Session, chain: AuditChain | str) -> ChainHead | None:
    """The chain's head row, or None when it is missing (which means tampering)."""
    chain = AuditChain(chain)
    t = AuditChainHead.__table__
    row = session.execute(
        select(t.c.last_seq, t.c.last_hash, t.c.anchor_seq, t.c.anchor_prev_hash, t.c.mac).where(
            t.c.chain == chain.value
        )
    ).one_or_none()
    if row is None:
        return None
    return ChainHead(
        chain=chain,
        last_seq=row.last_seq,
        last_hash=row.last_hash,
        anchor_seq=row.anchor_seq,
        anchor_prev_hash=row.anchor_prev_hash,
        mac=row.mac,
    )


def _append(session: Session, model: type[R], values: dict[str, Any]) -> R:
    chain = model.CHAIN
    key = session_keyring(session).audit_key
    _lock_chain(session, chain)
    head = _authentic_head(session, chain, key)
    now = database_now(session)
    seq = head.last_seq + 1
    values.update(id=uuid.uuid4(), seq=seq, prev_hash=head.last_hash, at=values["at"] or now)
    values["hash"] = link_hash(key, head.last_hash, canonical_json(model.link_fields(values)))
    record = model(**values)
    session.add(record)
    session.flush()
    _move_head(session, head, replace(head, last_seq=seq, last_hash=values["hash"]), key, now)
    return record


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _lock_chain(session: Session, chain: AuditChain) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEYS[chain]})


def _authentic_head(session: Session, chain: AuditChain, key: bytes) -> ChainHead:
    """The head, refusing to build on one that was tampered with: extending a rewound head
    would re-MAC it and launder a truncation."""
    head = read_head(session, chain)
    if head is None:
        raise AuditChainBroken(f"{chain.label}: the chain head is missing")
    if not head.is_authentic(key):
        raise AuditChainBroken(f"{chain.label}: the chain head was altered (MAC mismatch)")
    return head


def _move_head(session: Session, old: ChainHead, new: ChainHead, key: bytes, now: datetime) -> None:
    t = _table(AuditChainHead)
    result = session.execute(
        update(t)
        .where(
            t.c.chain == old.chain.value,
            t.c.last_seq == old.last_seq,
            t.c.anchor_seq == old.anchor_seq,
        )
        .values(
            last_seq=new.last_seq,
            last_hash=new.last_hash,
            anchor_seq=new.anchor_seq,
            anchor_prev_hash=new.anchor_prev_hash,
            mac=head_mac(key, new.mac_fields()),
            updated_at=now,
        )
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise AuditChainBroken(f"{old.chain.label}: the chain head moved under a writer")


def _resident_id_list(resident_ids: Sequence[uuid.UUID | str]) -> list[str]:
    if isinstance(resident_ids, str | bytes):
        raise InvalidInput({"resident_ids": ["a list of resident ids, not one string"]})
    try:
        return sorted({str(uuid.UUID(str(r))) for r in resident_ids})
    except ValueError:
        raise InvalidInput({"resident_ids": ["resident ids must be UUIDs"]}) from None


def _bounded(value: str | None, length: int, name: str) -> str | None:
    if value is not None and len(value) > length:
        raise InvalidInput({name: [f"at most {length} characters"]})
    return value


def _rights_state(state: Mapping[str, Any], name: str) -> dict[str, Any]:
    secret = SECRET_STATE_KEYS.intersection(k.lower() for k in state)
    if secret:
        raise InvalidInput({name: [f"secrets do not belong in access records: {sorted(secret)}"]})
    try:
        plain = json.loads(canonical_json(dict(state)))
    except (TypeError, ValueError) as exc:
        raise InvalidInput({name: [str(exc)]}) from None
    return cast(dict[str, Any], plain)


# -- verifying --------------------------------------------------------------------------------
class ChainProblem(StrEnum):
    HEAD_MISSING = "head_missing"
    HEAD_ALTERED = "head_altered"  # the head's MAC does not match (rewound or forged)
    BEFORE_ANCHOR = "before_anchor"  # a row older than the oldest link the head vouches for
    MISSING = "missing"  # a seq is absent between the anchor and the newest row present
    ALTERED = "altered"  # a row's fields or hash no longer match its MAC
    BROKEN_LINK = "broken_link"  # a row's prev_hash is not the previous link's hash
    TRUNCATED = "truncated"  # the newest rows are gone: the head names a later seq
    HEAD_MISMATCH = "head_mismatch"  # the newest row is not the one the head names
    ROLLED_BACK = "rolled_back"  # the head is behind an off-site checkpoint (an old head replayed)
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the checkpointed link was replaced


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's head as shipped off-site; verifying against it later catches what the database
    alone cannot: a head restored from an old backup together with a truncated table."""

    chain: AuditChain
    seq: int
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {"chain": self.chain.value, "seq": self.seq, "hash": self.hash}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        seq, digest = data["seq"], data["hash"]
        if not isinstance(seq, int) or seq < 0 or not isinstance(digest, str):
            raise ValueError("a checkpoint has an integer seq and a hex hash")
        return cls(chain=AuditChain(data["chain"]), seq=seq, hash=digest)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking one chain; `problem` names the first bad link in plain words."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None
    chain: AuditChain
    kind: ChainProblem | None = None
    head_seq: int = 0


Progress = Callable[[int, int], None]


@dataclass(slots=True)
class _Walk:
    checked: int = 0
    next_seq: int = 1
    last_hash: str = GENESIS_HASH
    failure: tuple[ChainProblem, int | None, str] | None = field(default=None)


def verify_chain(
    session: Session,
    chain: AuditChain | str,
    *,
    progress: Progress | None = None,
    batch_size: int = VERIFY_BATCH,
    checkpoint: Checkpoint | None = None,
) -> VerifyResult:
    """Walk one chain in seq order, streaming, and name the first bad link.

    Detects an altered row (hash mismatch), a broken link (prev_hash mismatch), a missing seq,
    missing oldest rows (the MAC'd anchor names an earlier seq) and missing newest rows (the MAC'd
    head names a later seq). With a `checkpoint` taken earlier and kept off-site, it also detects
    a head rolled back behind it, and a checkpointed link that was replaced.
    `progress(checked, expected)` is called every `batch_size` links. Run it in one snapshot
    (`Database.snapshot()`), or concurrent pruning can look like a gap.
    """
    chain = AuditChain(chain)
    model = CHAIN_MODELS[chain]
    key = session_keyring(session).audit_key
    head = read_head(session, chain)
    if head is None:
        return _failed(chain, 0, ChainProblem.HEAD_MISSING, None, "the chain head is missing")
    if not head.is_authentic(key):
        return _failed(
            chain,
            0,
            ChainProblem.HEAD_ALTERED,
            None,
            "the chain head was altered: its MAC does not match (rewound or forged)",
            head_seq=head.last_seq,
        )
    if checkpoint is not None and checkpoint.seq > head.last_seq:
        return _failed(
            chain,
            0,
            ChainProblem.ROLLED_BACK,
            head.last_seq + 1,
            f"the chain head (seq {head.last_seq}) is behind the checkpoint (seq "
            f"{checkpoint.seq}): records from seq {head.last_seq + 1} were removed",
            head_seq=head.last_seq,
        )
    seq_column = model.__table__.c.seq
    stray = session.scalar(select(func.min(seq_column)).where(seq_column < head.anchor_seq))
    if stray is not None:
        return _failed(
            chain,
            0,
            ChainProblem.BEFORE_ANCHOR,
            stray,
            f"seq {stray} lies before the chain's anchor (seq {head.anchor_seq})",
            head_seq=head.last_seq,
        )
    walk = _walk(
        session,
        model,
        key,
        first_seq=head.anchor_seq,
        first_prev=head.anchor_prev_hash,
        last_seq=head.last_seq,
        progress=progress,
        batch_size=batch_size,
    )
    if walk.failure is None and walk.next_seq <= head.last_seq:
        walk.failure = (
            ChainProblem.TRUNCATED,
            walk.next_seq,
            f"the newest records are missing: seq {walk.next_seq}–{head.last_seq} "
            f"(the table ends at seq {walk.next_seq - 1}, the chain head says {head.last_seq})",
        )
    if walk.failure is None and not same_digest(walk.last_hash, head.last_hash):
        walk.failure = (
            ChainProblem.HEAD_MISMATCH,
            head.last_seq,
            f"seq {head.last_seq} is not the record the chain head names",
        )
    if walk.failure is None and checkpoint is not None:
        walk.failure = _check_checkpoint(session, model, head, checkpoint)
    if walk.failure is not None:
        kind, seq, problem = walk.failure
        return _failed(chain, walk.checked, kind, seq, problem, head_seq=head.last_seq)
    return VerifyResult(
        ok=True,
        checked=walk.checked,
        first_bad_seq=None,
        problem=None,
        chain=chain,
        head_seq=head.last_seq,
    )


def take_checkpoint(session: Session, chain: AuditChain | str) -> Checkpoint:
    """The chain's current head, to be kept outside the database (another system, another
    administrator) and passed to `verify_chain` later."""
    chain = AuditChain(chain)
    head = _authentic_head(session, chain, session_keyring(session).audit_key)
    return Checkpoint(chain=chain, seq=head.last_seq, hash=head.last_hash)


def _check_checkpoint(
    session: Session, model: type[ChainedRecord], head: ChainHead, checkpoint: Checkpoint
) -> tuple[ChainProblem, int | None, str] | None:
    if checkpoint.seq < head.anchor_seq:
        return None  # pruned since (the anchor is MAC'd, so that move was the retention job's)
    t = _table(model)
    stored = session.scalar(select(t.c.hash).where(t.c.seq == checkpoint.seq))
    if same_digest(stored, checkpoint.hash):
        return None
    return (
        ChainProblem.CHECKPOINT_MISMATCH,
        checkpoint.seq,
        f"seq {checkpoint.seq} is not the record the checkpoint names (the chain was rebuilt)",
    )


def _failed(
    chain: AuditChain,
    checked: int,
    kind: ChainProblem,
    seq: int | None,
    problem: str,
    *,
    head_seq: int = 0,
) -> VerifyResult:
    return VerifyResult(
        ok=False,
        checked=checked,
        first_bad_seq=seq,
        problem=problem,
        chain=chain,
        kind=kind,
        head_seq=head_seq,
    )


def _walk(
    session: Session,
    model: type[ChainedRecord],
    key: bytes,
    *,
    first_seq: int,
    first_prev: str,
    last_seq: int,
    progress: Progress | None = None,
    batch_size: int = VERIFY_BATCH,
) -> _Walk:
    """Check the links first_seq..last_seq (or up to the last row present) and stop at the
    first bad one."""
    t = model.__table__
    columns = [t.c[name] for name in (*model.HASHED_FIELDS, "prev_hash", "hash")]
    stmt = (
        select(*columns)
        .where(t.c.seq >= first_seq, t.c.seq <= last_seq)
        .order_by(t.c.seq)
        .execution_options(yield_per=batch_size)
    )
    walk = _Walk(next_seq=first_seq, last_hash=first_prev)
    expected_total = max(last_seq - first_seq + 1, 0)
    result = session.execute(stmt)
    try:
        for row in result:
            values = row._mapping
            seq = values["seq"]
            walk.failure = _check_link(model, key, values, walk, first_seq)
            if walk.failure is not None:
                return walk
            walk.last_hash = values["hash"]
            walk.next_seq = seq + 1
            walk.checked += 1
            if progress is not None and walk.checked % batch_size == 0:
                progress(walk.checked, expected_total)
    finally:
        result.close()
    if progress is not None:
        progress(walk.checked, expected_total)
    return walk


def _check_link(
    model: type[ChainedRecord],
    key: bytes,
    values: Mapping[Any, Any],
    walk: _Walk,
    first_seq: int,
) -> tuple[ChainProblem, int | None, str] | None:
    seq = values["seq"]
    if seq != walk.next_seq:
        missing = f"seq {walk.next_seq}" + (f"–{seq - 1}" if seq - 1 > walk.next_seq else "")
        where = "the oldest kept records" if walk.next_seq == first_seq else "records"
        return (ChainProblem.MISSING, walk.next_seq, f"{where} missing: {missing}")
    try:
        expected = link_hash(key, values["prev_hash"], canonical_json(model.link_fields(values)))
    except (TypeError, ValueError, UnicodeError):
        expected = None  # a field rewritten into something that no longer even serializes
    if not same_digest(expected, values["hash"]):
        return (ChainProblem.ALTERED, seq, f"seq {seq} was altered: its hash does not match")
    if not same_digest(values["prev_hash"], walk.last_hash):
        previous = "the chain's anchor" if seq == first_seq else f"seq {seq - 1}"
        return (ChainProblem.BROKEN_LINK, seq, f"seq {seq} does not link to {previous}")
    return None


# -- retention --------------------------------------------------------------------------------
def prune_chain(session: Session, *, chain: AuditChain | str, older_than: datetime) -> int:
    """Delete the oldest records of a chain whose `at` lies before `older_than`; returns how many.

    Only a prefix is ever deleted (up to the first record that is still young), so the kept part
    stays one unbroken chain; the head's MAC'd anchor moves to its first kept link. The prefix is
    verified before it goes: a tampered segment raises AuditChainBroken and nothing is deleted,
    so retention never erases the evidence. On PostgreSQL the delete announces itself with
    `SET LOCAL welfare.audit_retention = 'on'`, which the append-only trigger requires, and the
    trigger still refuses any row younger than the legal retention period.
    """
    chain = AuditChain(chain)
    model = CHAIN_MODELS[chain]
    key = session_keyring(session).audit_key
    _lock_chain(session, chain)
    head = _authentic_head(session, chain, key)
    t = _table(model)
    first_young = session.scalar(
        select(t.c.seq)
        .where(t.c.seq >= head.anchor_seq, t.c.at >= older_than)
        .order_by(t.c.seq)
        .limit(1)
    )
    cut = head.last_seq + 1 if first_young is None else first_young
    if cut <= head.anchor_seq:
        return 0
    segment = _walk(
        session,
        model,
        key,
        first_seq=head.anchor_seq,
        first_prev=head.anchor_prev_hash,
        last_seq=cut - 1,
    )
    if segment.failure is None and segment.next_seq != cut:
        segment.failure = (ChainProblem.MISSING, segment.next_seq, "records missing before pruning")
    if segment.failure is not None:
        _, seq, problem = segment.failure
        raise AuditChainBroken(f"{chain.label}: refusing to prune at seq {seq}: {problem}")
    is_postgresql = session.get_bind().dialect.name == "postgresql"
    if is_postgresql:
        session.execute(text("SET LOCAL welfare.audit_retention = 'on'"))
    result = session.execute(delete(t).where(t.c.seq >= head.anchor_seq, t.c.seq < cut))
    if is_postgresql:
        session.execute(text("SET LOCAL welfare.audit_retention = 'off'"))
    new_head = replace(head, anchor_seq=cut, anchor_prev_hash=segment.last_hash)
    _move_head(session, head, new_head, key, database_now(session))
    return cast(CursorResult[Any], result).rowcount


# -- querying ---------------------------------------------------------------------------------
def query_events(
    session: Session,
    *,
    resident_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    action: AuditAction | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AuditEvent], str | None]:
    """Access records matching every filter given, newest first, a page at a time.

    `since` is inclusive, `until` exclusive. Pass the returned cursor back for the next page;
    it is None on the last page.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput({"limit": [f"between 1 and {MAX_PAGE_SIZE}"]})
    conditions: list[ColumnElement[bool]] = []
    if resident_id is not None:
        conditions.append(_mentions_resident(session, resident_id))
    if staff_id is not None:
        conditions.append(AuditEvent.staff_id == staff_id)
    if action is not None:
        try:
            conditions.append(AuditEvent.action == AuditAction(action).value)
        except ValueError:
            raise InvalidInput({"action": [f"unknown action {action!r}"]}) from None
    for name, instant in (("since", since), ("until", until)):
        if instant is not None and (instant.tzinfo is None or instant.utcoffset() is None):
            raise InvalidInput({name: ["give a time zone"]})
    if since is not None:
        conditions.append(AuditEvent.at >= since)
    if until is not None:
        conditions.append(AuditEvent.at < until)
    if cursor is not None:
        conditions.append(AuditEvent.seq < _decode_cursor(cursor))
    stmt = select(AuditEvent).where(*conditions).order_by(AuditEvent.seq.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = _encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _mentions_resident(session: Session, resident_id: uuid.UUID) -> ColumnElement[bool]:
    wanted = str(uuid.UUID(str(resident_id)))
    if session.get_bind().dialect.name == "postgresql":
        # jsonb containment, answered by the GIN index ix_audit_events_resident_ids.
        return type_coerce(AuditEvent.resident_ids, JSONB).contains([wanted])
    each = func.json_each(AuditEvent.resident_ids).table_valued("value")
    return select(literal(1)).select_from(each).where(each.c.value == wanted).exists()


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        seq = int(raw.removeprefix(_CURSOR_PREFIX))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput({"cursor": ["not a cursor this service issued"]}) from None
    if not 1 <= seq < 2**63:  # a forged seq past BIGINT overflows the query parameter
        raise InvalidInput({"cursor": ["not a cursor this service issued"]})
    return seq
