"""Master-key rotation: add a key, rewrap what depends on old keys in batches, retire old keys.

What depends on a master key: every subject's wrapped data key (table `data_keys`) and the staff
secrets sealed directly under it (TOTP seeds). Values themselves never depend on a master key,
so rotation rewraps about 50 bytes per resident and re-encrypts nothing.

The order of operations for an operator (each step safe to repeat):

1. `welfare keys rotate` writes a keyring whose new key is active and the old one decrypt-only.
2. Every web node and scheduler restarts with that keyring file, so all of them can read keys
   wrapped under the new key before any exists.
3. `welfare keys rewrap` moves data keys and staff secrets to the active key in batches, each its
   own transaction; a killed run is simply started again, and rows already moved are skipped.
4. `welfare keys retire OLD_ID` once nothing depends on the old key (it refuses otherwise); the
   key's secret is erased from the keyring.

Backups. Restores replay the erasure ledger (services/erasure_ledger.py), so an erased resident
stays erased; epochs are the backstop for copies restored any other way. A backup taken before
an erasure still holds the erased resident's wrapped data key,
wrapped under the master key active at the time; destroying the live row cannot reach into it.
Master keys are therefore epochs: rotate on a schedule (e.g. monthly), rewrap, and retire each old
key once the last backup that could hold keys wrapped under it has left the backup retention
window. Retirement removes the key's secret, so from then on that whole epoch of backups — and
every erased resident in it — is unreadable, and an erasure is final in every copy after at
most one rotation interval plus the retention window. Database backups never contain the keyring
(docs/operations.md, "Backups"); copies of the keyring itself follow the same retirement.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from services import key_retirement
from services.auth import TOTP_PURPOSE
from welfare.crypto.cipher import DecryptionError
from welfare.crypto.envelope import WrappedKey, rewrap
from welfare.crypto.keyring import Keyring, KeyringError, KeyState, MasterKey
from welfare.crypto.sealed import SealError, reseal, sealed_key_id
from welfare.errors import DomainError, NotFound, RuleViolation
from welfare.models import DataKey, Staff

log = logging.getLogger("welfare.keys")

DEFAULT_BATCH = 500


class KeyInUse(RuleViolation):
    """A master key cannot retire while data keys or staff secrets still depend on it."""

    code = "key_in_use"


class RewrapInterrupted(DomainError):
    """A rewrap run stopped early; the batches it committed stand and a new run continues."""

    status = 503
    code = "rewrap_interrupted"
    title = "키 재포장이 중단되었습니다. 다시 실행하면 이어서 진행합니다 (rewrap interrupted)"

    def __init__(self, report: RewrapReport, cause: BaseException) -> None:
        super().__init__()
        self.report = report
        self.cause = type(cause).__name__


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """One master key with what still depends on it."""

    id: str
    state: KeyState
    created_at: datetime | None  # None: an id found in the database but not in the keyring
    data_keys: int
    staff_secrets: int

    @property
    def dependents(self) -> int:
        return self.data_keys + self.staff_secrets


@dataclass(frozen=True, slots=True)
class RewrapBatch:
    """What one batch did; `last_subject_id` is where the next batch of the same run starts."""

    fetched: int
    rewrapped: int
    unreadable: tuple[uuid.UUID, ...]
    last_subject_id: uuid.UUID | None


@dataclass(slots=True)
class RewrapReport:
    """The sum of a rewrap run, batch by batch."""

    rewrapped: int = 0
    staff_secrets: int = 0
    batches: int = 0
    unreadable: list[uuid.UUID] = field(default_factory=list)
    finished: bool = False


def rotate(keyring: Keyring, *, now: datetime) -> Keyring:
    """A keyring with a new active master key; the old active key becomes decrypt-only."""
    return keyring.with_new_active_key(now)


def data_key_dependents(session: Session) -> dict[str, int]:
    """How many live (not destroyed) data keys each master key wraps."""
    rows = session.execute(
        select(DataKey.master_key_id, func.count())
        .where(DataKey.wrapped.is_not(None))
        .group_by(DataKey.master_key_id)
    )
    return {str(key_id): int(count) for key_id, count in rows if key_id is not None}


def staff_secret_dependents(session: Session) -> dict[str, int]:
    """How many staff secrets (TOTP seeds, enrolled or being enrolled) are sealed under each
    master key."""
    counts: dict[str, int] = {}
    for column in (Staff.totp_secret, Staff.totp_pending_secret):
        for blob in session.scalars(select(column).where(column.is_not(None))):
            if blob is None:  # excluded by the query; for the types
                continue
            try:
                key_id = sealed_key_id(blob)
            except SealError:
                key_id = "(unreadable)"
            counts[key_id] = counts.get(key_id, 0) + 1
    return counts


def status(session: Session, keyring: Keyring) -> list[KeyStatus]:
    """Every master key of the keyring, oldest first, with its dependents in the database.

    A key id found in the database but missing from the keyring is listed too (state retired),
    because data that depends on it can no longer be read.
    """
    data_keys = data_key_dependents(session)
    secrets = staff_secret_dependents(session)
    known = {k.id for k in keyring.master_keys}
    result = [
        KeyStatus(k.id, k.state, k.created_at, data_keys.get(k.id, 0), secrets.get(k.id, 0))
        for k in keyring.master_keys
    ]
    for key_id in sorted((set(data_keys) | set(secrets)) - known):
        result.append(
            KeyStatus(
                key_id,
                KeyState.RETIRED,
                None,
                data_keys.get(key_id, 0),
                secrets.get(key_id, 0),
            )
        )
    return result


def pending_rewrap(session: Session, keyring: Keyring) -> int:
    """How many data keys are not yet on the active master key."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(DataKey)
            .where(DataKey.wrapped.is_not(None), DataKey.master_key_id != keyring.active.id)
        )
        or 0
    )


def rewrap_batch(
    session: Session,
    keyring: Keyring,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    after: uuid.UUID | None = None,
) -> RewrapBatch:
    """Move up to `batch_size` data keys to the active master key, in one transaction.

    Each row is updated by compare-and-set on the wrapped blob it was read with, so a data key
    destroyed (erasure) while the batch ran is never brought back. Keys that fail to unwrap are
    left as they are and reported; `after` lets a run step past them.
    """
    active = keyring.active.id
    # Not under a key a retirement marked meanwhile (a second rotation and retire while this
    # run holds the keyring it started with): the retirement counted before these rows moved.
    key_retirement.check_wrapped_under(session, {active})
    stmt = (
        select(DataKey.subject_id, DataKey.master_key_id, DataKey.wrapped)
        .where(DataKey.wrapped.is_not(None), DataKey.master_key_id != active)
        .order_by(DataKey.subject_id)
        .limit(batch_size)
    )
    if after is not None:
        stmt = stmt.where(DataKey.subject_id > after)
    rows = session.execute(stmt).all()
    rewrapped = 0
    unreadable: list[uuid.UUID] = []
    try:
        for subject_id, master_key_id, blob in rows:
            if master_key_id is None or blob is None:  # excluded by the query; for the types
                continue
            old = WrappedKey(master_key_id=master_key_id, blob=blob)
            try:
                new = rewrap(keyring, old, str(subject_id))
            except DecryptionError:
                unreadable.append(subject_id)
                continue
            result = session.execute(
                update(DataKey)
                .where(
                    DataKey.subject_id == subject_id,
                    DataKey.master_key_id == master_key_id,
                    DataKey.wrapped == blob,
                )
                .values(master_key_id=new.master_key_id, wrapped=new.blob, rewrapped_at=now)
                .execution_options(synchronize_session=False)
            )
            # Zero when the key was destroyed or moved meanwhile: nothing to do for it then.
            rewrapped += cast(CursorResult[Any], result).rowcount
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if unreadable:
        log.warning("data keys that could not be unwrapped", extra={"count": len(unreadable)})
    return RewrapBatch(len(rows), rewrapped, tuple(unreadable), rows[-1][0] if rows else None)


def rewrap_batches(
    session: Session,
    keyring: Keyring,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
) -> Iterator[RewrapBatch]:
    """Rewrap batch after batch until none is left (or `max_batches` ran); yields each batch."""
    if batch_size < 1:
        raise ValueError("a batch holds at least one data key")
    after: uuid.UUID | None = None
    done = 0
    while max_batches is None or done < max_batches:
        batch = rewrap_batch(session, keyring, now=now, batch_size=batch_size, after=after)
        done += 1
        yield batch
        if batch.last_subject_id is None or batch.fetched < batch_size:
            return
        after = batch.last_subject_id


def rewrap_to_active_key(
    session: Session,
    keyring: Keyring,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RewrapReport:
    """Move the staff secrets, then the data keys batch by batch, to the active master key.

    `on_progress` hears how many data keys each batch handled, so a caller that counted
    `pending_rewrap` first can show how far the run got. The report is finished when all that is
    left on older keys are the data keys that could not be unwrapped.
    """
    report = RewrapReport()
    try:
        report.staff_secrets = reseal_staff_secrets(session, keyring)
        for batch in rewrap_batches(
            session, keyring, now=now, batch_size=batch_size, max_batches=max_batches
        ):
            report.batches += 1 if batch.fetched else 0
            report.rewrapped += batch.rewrapped
            report.unreadable.extend(batch.unreadable)
            if on_progress is not None:
                on_progress(batch.fetched)
        report.finished = pending_rewrap(session, keyring) == len(report.unreadable)
        session.rollback()  # ends the read of the final count
    except (Exception, KeyboardInterrupt) as exc:
        # Ctrl-C included: either way the committed batches stand, and the operator needs to hear
        # how far the run got before starting it again.
        raise RewrapInterrupted(report, exc) from exc
    return report


def reseal_staff_secrets(session: Session, keyring: Keyring) -> int:
    """Seal every staff TOTP seed (enrolled or being enrolled) under the active master key
    (few rows: one transaction)."""
    moved = 0
    active = keyring.active.id
    key_retirement.check_wrapped_under(session, {active})  # as in rewrap_batch
    sealed = or_(Staff.totp_secret.is_not(None), Staff.totp_pending_secret.is_not(None))
    for member in session.scalars(select(Staff).where(sealed)):
        for attribute in ("totp_secret", "totp_pending_secret"):
            blob: bytes | None = getattr(member, attribute)
            if blob is None:
                continue
            try:
                if sealed_key_id(blob) == active:
                    continue
                fresh = reseal(keyring, blob, purpose=TOTP_PURPOSE, owner=str(member.id))
            except SealError:
                log.warning(
                    "a staff secret could not be opened", extra={"staff_id": str(member.id)}
                )
                continue
            setattr(member, attribute, fresh)
            moved += 1
    session.commit()
    return moved


def retire(session: Session, keyring: Keyring, key_id: str) -> Keyring:
    """A keyring with `key_id` retired (its secret erased), refused while anything needs it.

    The retirement is marked in this transaction first (services/key_retirement.py), after
    every wrap under way has committed and before any later one: the caller commits the mark
    and then writes the returned keyring; a refusal rolls the mark back."""
    key = _find(keyring, key_id)
    if key.state is KeyState.ACTIVE:
        raise RuleViolation(
            "활성 키는 폐기할 수 없습니다. 먼저 키를 교체하세요 "
            "(the active key cannot retire; rotate first)",
            code="key_active",
        )
    if key.state is KeyState.RETIRED:
        return keyring
    key_retirement.mark_retired(session, key_id, datetime.now(UTC))
    data_keys = data_key_dependents(session).get(key_id, 0)
    secrets = staff_secret_dependents(session).get(key_id, 0)
    if data_keys or secrets:
        raise KeyInUse(
            f"키 {key_id}에 아직 {data_keys}개의 데이터 키와 {secrets}개의 직원 비밀이 "
            f"의존합니다. 먼저 `welfare keys rewrap`을 실행하세요 ({key_id} still wraps "
            f"{data_keys} data keys and {secrets} staff secrets; run `welfare keys rewrap` first)"
        )
    try:
        return keyring.with_key_state(key_id, KeyState.RETIRED)
    except KeyringError as exc:
        raise RuleViolation(str(exc), code="key_state") from None


def _find(keyring: Keyring, key_id: str) -> MasterKey:
    for key in keyring.master_keys:
        if key.id == key_id:
            return key
    raise NotFound(f"키링에 {key_id} 키가 없습니다 (no master key {key_id} in the keyring)")
