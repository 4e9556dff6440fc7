"""The keyed chains: appends link up, and every kind of tampering is named by its seq."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.audit import (
    AuditChainBroken,
    ChainProblem,
    Checkpoint,
    prune_chain,
    read_head,
    record_access,
    record_right_change,
    take_checkpoint,
    verify_chain,
)
from services.audit.link import link_pending
from tests.support.audit import (
    PRISTINE_HEAD,
    act_as_dba,
    remove,
    rewrite,
    rewrite_head,
    staff_actor,
)
from welfare.crypto.chain import GENESIS_HASH
from welfare.crypto.keyring import Keyring
from welfare.database import database_now
from welfare.errors import InvalidInput
from welfare.models import (
    AccessRightChange,
    Actor,
    AuditAction,
    AuditChain,
    AuditChainHead,
    AuditEvent,
    RightChange,
    Role,
)

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 10:00 in Seoul


def append_events(
    session: Session, count: int, actor: Actor | None = None, *, link: bool = True
) -> list[AuditEvent]:
    """Append `count` access records and, unless told not to, run the linking job's step."""
    actor = actor or staff_actor()
    events = [
        record_access(
            session,
            actor=actor,
            action=AuditAction.READ,
            resident_ids=[uuid.uuid4()],
            at=T0 + timedelta(minutes=i),
        )
        for i in range(count)
    ]
    if link:
        link_pending(session, AuditChain.ACCESS)
    return events


def test_appending_builds_a_valid_chain(session: Session) -> None:
    events = append_events(session, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and head.genesis_hash is not None
    assert events[0].prev_hash == head.genesis_hash != GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.checked, result.first_bad_seq, result.problem) == (
        True,
        5,
        None,
        None,
    )
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    assert (head.last_seq, head.last_hash) == (5, events[-1].hash)


def test_resident_ids_are_recorded_canonical_sorted_and_once(session: Session) -> None:
    a, b = sorted([uuid.uuid4(), uuid.uuid4()], key=str)
    event = record_access(
        session,
        actor=staff_actor(),
        action=AuditAction.READ,
        resident_ids=[b, str(a).upper(), a, "{" + str(b) + "}", b.hex],
        at=T0,
    )
    assert event.resident_ids == [str(a), str(b)]
    with pytest.raises(InvalidInput):
        record_access(
            session, actor=staff_actor(), action=AuditAction.READ, resident_ids=["nope"], at=T0
        )


def test_an_empty_chain_verifies_with_no_links(session: Session) -> None:
    for chain in AuditChain:
        result = verify_chain(session, chain)
        assert (result.ok, result.checked) == (True, 0)


def test_the_two_chains_are_numbered_and_verified_separately(session: Session) -> None:
    append_events(session, 3)
    change = record_right_change(
        session,
        actor=staff_actor(Role.ADMIN),
        target_staff_id=uuid.uuid4(),
        change=RightChange.ROLE_CHANGED,
        before={"role": "outreach"},
        after={"role": "counselor"},
    )
    assert change.seq is None  # sealed, waiting for the linking job
    link_pending(session, AuditChain.ACCESS_RIGHTS)
    assert change.seq == 1
    assert verify_chain(session, AuditChain.ACCESS).checked == 3
    assert verify_chain(session, AuditChain.ACCESS_RIGHTS).checked == 1


def test_the_hash_is_an_hmac_under_the_audit_key_not_a_plain_digest(session: Session) -> None:
    (event,) = append_events(session, 1)
    assert len(event.hash) == 64
    assert event.hash != hashlib.sha256(event.prev_hash.encode()).hexdigest()
    other_key = b"\x01" * 32
    forged = hmac.new(other_key, event.prev_hash.encode(), hashlib.sha256).hexdigest()
    assert event.hash != forged


ACCESS_EDITS: dict[str, Any] = {
    "id": uuid.UUID(int=7),
    "at": T0 + timedelta(seconds=1),
    "staff_id": uuid.UUID(int=8),
    "actor_role": "supervisor",
    "action": "search",
    "resident_ids": [str(uuid.UUID(int=9))],
    "outcome": "denied",
    "ip": "10.0.0.99",
    "request_id": "req-forged-0001",
    "reason": "inserted afterwards",
    "category": "security",
    "prev_hash": "f" * 64,
    "hash": "e" * 64,
}


@pytest.mark.parametrize("column", sorted(ACCESS_EDITS))
@pytest.mark.parametrize("seq", [1, 3, 5])
def test_editing_any_field_of_any_access_record_makes_verify_name_that_seq(
    session: Session, column: str, seq: int
) -> None:
    append_events(session, 5)
    act_as_dba(session)
    rewrite(session, AuditEvent, seq, **{column: ACCESS_EDITS[column]})
    result = verify_chain(session, AuditChain.ACCESS)
    assert not result.ok
    assert result.first_bad_seq == seq
    assert result.kind is ChainProblem.ALTERED
    assert result.checked == seq - 1
    assert f"seq {seq}" in (result.problem or "")


def test_renumbering_a_record_shows_as_the_seq_it_left_missing(session: Session) -> None:
    append_events(session, 5)
    act_as_dba(session)
    rewrite(session, AuditEvent, 3, seq=30)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.first_bad_seq, result.kind) == (False, 3, ChainProblem.MISSING)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("before", {"role": "admin"}),
        ("after", {"role": "admin"}),
        ("target_staff_id", uuid.UUID(int=1)),
        ("change", "created"),
        ("actor_staff_id", None),
    ],
)
def test_editing_an_access_right_change_makes_verify_name_that_seq(
    session: Session, column: str, value: Any
) -> None:
    admin = staff_actor(Role.ADMIN)
    target = uuid.uuid4()
    for role in ("outreach", "counselor", "supervisor"):
        record_right_change(
            session,
            actor=admin,
            target_staff_id=target,
            change=RightChange.ROLE_CHANGED,
            before={"role": "counselor"},
            after={"role": role},
        )
    link_pending(session, AuditChain.ACCESS_RIGHTS)
    act_as_dba(session)
    rewrite(session, AccessRightChange, 2, **{column: value})
    result = verify_chain(session, AuditChain.ACCESS_RIGHTS)
    assert (result.ok, result.first_bad_seq, result.kind) == (False, 2, ChainProblem.ALTERED)


def test_deleting_the_newest_records_is_reported_as_truncation(session: Session) -> None:
    append_events(session, 6)
    act_as_dba(session)
    remove(session, AuditEvent, 5, 6)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.first_bad_seq, result.kind) == (False, 5, ChainProblem.TRUNCATED)
    assert result.checked == 4
    assert "newest records are missing: seq 5–6" in (result.problem or "")


def test_deleting_a_middle_record_is_reported_as_a_missing_seq(session: Session) -> None:
    append_events(session, 6)
    act_as_dba(session)
    remove(session, AuditEvent, 3)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.first_bad_seq, result.kind) == (False, 3, ChainProblem.MISSING)
    assert result.checked == 2


def test_deleting_the_oldest_records_without_the_retention_job_is_reported(
    session: Session,
) -> None:
    append_events(session, 4)
    act_as_dba(session)
    remove(session, AuditEvent, 1, 2)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.first_bad_seq, result.kind) == (False, 1, ChainProblem.MISSING)
    assert "oldest kept records missing: seq 1–2" in (result.problem or "")


def test_rewinding_the_head_to_hide_a_truncation_is_detected(session: Session) -> None:
    events = append_events(session, 6)
    act_as_dba(session)
    remove(session, AuditEvent, 5, 6)
    rewrite_head(session, "access", last_seq=4, last_hash=events[3].hash)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind) == (False, ChainProblem.HEAD_ALTERED)


def test_a_tampered_head_refuses_further_linking_instead_of_laundering_it(
    session: Session,
) -> None:
    events = append_events(session, 3)
    act_as_dba(session)
    remove(session, AuditEvent, 3)
    rewrite_head(session, "access", last_seq=2, last_hash=events[1].hash)
    (waiting,) = append_events(session, 1, link=False)  # appending never reads the head
    with pytest.raises(AuditChainBroken, match="head was altered"):
        link_pending(session, AuditChain.ACCESS)
    assert waiting.seq is None


def test_a_record_inserted_into_a_gap_without_the_key_does_not_verify(session: Session) -> None:
    events = append_events(session, 3)
    act_as_dba(session)
    remove(session, AuditEvent, 2)
    forged = AuditEvent(
        id=uuid.uuid4(),
        seq=2,
        at=T0,
        staff_id=None,
        actor_role="system",
        action="read",
        resident_ids=[],
        outcome="ok",
        ip=None,
        request_id=None,
        reason=None,
        category="access",
        prev_hash=events[0].hash,
        hash=hashlib.sha256(b"a guess").hexdigest(),
    )
    session.add(forged)
    session.flush()
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.first_bad_seq, result.kind) == (2, ChainProblem.ALTERED)


def test_resident_ids_are_stored_sorted_and_distinct(session: Session) -> None:
    a, b = sorted([uuid.uuid4(), uuid.uuid4()], key=str)
    event = record_access(
        session, actor=staff_actor(), action="search", resident_ids=[b, a, str(b)]
    )
    session.expire_all()
    stored = session.scalars(select(AuditEvent.resident_ids).where(AuditEvent.id == event.id))
    assert stored.one() == [str(a), str(b)]
    assert verify_chain(session, AuditChain.ACCESS).ok


def test_a_system_actor_is_recorded_without_a_staff_id(session: Session) -> None:
    event = record_access(session, actor=Actor.system(), action=AuditAction.ERASE)
    assert (event.staff_id, event.actor_role, event.request_id) == (None, "system", "scheduler")
    assert verify_chain(session, AuditChain.ACCESS).ok


def test_authentication_actions_default_to_the_security_category(session: Session) -> None:
    login = record_access(session, actor=staff_actor(), action="login_failed", outcome="denied")
    read = record_access(session, actor=staff_actor(), action="read")
    assert (login.category, read.category) == ("security", "access")


@pytest.mark.parametrize("action", [AuditAction.REVEAL, AuditAction.EXPORT])
def test_a_reveal_or_export_without_a_reason_is_refused(session: Session, action: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        record_access(session, actor=staff_actor(), action=action, reason="  ")
    assert "reason" in caught.value.errors
    record_access(session, actor=staff_actor(), action=action, reason="긴급 지원 연계")


def test_an_unknown_action_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput):
        record_access(session, actor=staff_actor(), action="peek")


def test_resident_ids_must_be_uuids_not_a_string(session: Session) -> None:
    with pytest.raises(InvalidInput):
        record_access(session, actor=staff_actor(), action="read", resident_ids="abc")
    with pytest.raises(InvalidInput):
        record_access(session, actor=staff_actor(), action="read", resident_ids=["홍길동"])


def test_a_right_change_stores_sets_as_sorted_lists_and_reads_back_as_hashed(
    session: Session,
) -> None:
    change = record_right_change(
        session,
        actor=staff_actor(Role.ADMIN),
        target_staff_id=uuid.uuid4(),
        change="dongs_changed",
        before={"dongs": frozenset({"1154561000", "1154551000"})},
        after={"dongs": frozenset({"1154551000"}), "since": T0},
    )
    session.expire_all()
    stored = session.get(AccessRightChange, change.id)
    assert stored is not None
    assert stored.before == {"dongs": ["1154551000", "1154561000"]}
    assert stored.after == {"dongs": ["1154551000"], "since": "2026-11-02T01:00:00.000000+00:00"}
    assert verify_chain(session, AuditChain.ACCESS_RIGHTS).ok


def test_secrets_never_enter_a_right_change(session: Session) -> None:
    with pytest.raises(InvalidInput):
        record_right_change(
            session,
            actor=staff_actor(Role.ADMIN),
            target_staff_id=uuid.uuid4(),
            change="password_reset",
            before={},
            after={"password_hash": "$argon2id$..."},
        )


def test_progress_is_reported_while_verifying(session: Session) -> None:
    append_events(session, 7)
    seen: list[tuple[int, int]] = []
    result = verify_chain(
        session, AuditChain.ACCESS, progress=lambda n, t: seen.append((n, t)), batch_size=3
    )
    assert result.ok
    assert seen == [(3, 7), (6, 7), (7, 7)]


def test_a_replayed_old_head_passes_alone_but_fails_against_an_off_site_checkpoint(
    session: Session,
) -> None:
    # The attack the database alone cannot see: keep a copy of the head row (a backup), let
    # more records arrive, then delete them and put the old head back.
    append_events(session, 4)
    old_head = session.execute(
        select(AuditChainHead.__table__).where(AuditChainHead.chain == "access")
    ).one()
    append_events(session, 2)
    point = take_checkpoint(session, AuditChain.ACCESS)  # shipped off-site, e.g. nightly
    assert point.seq == 6
    act_as_dba(session)
    remove(session, AuditEvent, 5, 6)
    rewrite_head(session, "access", **{k: v for k, v in old_head._mapping.items() if k != "chain"})

    assert verify_chain(session, AuditChain.ACCESS).ok  # the documented limitation
    result = verify_chain(session, AuditChain.ACCESS, checkpoint=point)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, ChainProblem.ROLLED_BACK, 5)


def test_a_checkpoint_of_a_healthy_chain_verifies_and_survives_pruning_past_it(
    session: Session,
) -> None:
    long_ago = database_now(session) - timedelta(days=800)
    for _ in range(3):
        record_access(session, actor=staff_actor(), action="read", at=long_ago)
    point = take_checkpoint(session, AuditChain.ACCESS)
    append_events(session, 2)
    assert verify_chain(session, AuditChain.ACCESS, checkpoint=point).ok
    assert (
        prune_chain(session, chain=AuditChain.ACCESS, older_than=long_ago.replace(year=2025)) == 3
    )
    assert verify_chain(session, AuditChain.ACCESS, checkpoint=point).checked == 2
    assert Checkpoint.from_json(point.as_json()) == point


def test_a_checkpoint_naming_another_hash_at_its_seq_is_reported(session: Session) -> None:
    append_events(session, 3)
    point = Checkpoint(chain=AuditChain.ACCESS, seq=2, hash="a" * 64)
    result = verify_chain(session, AuditChain.ACCESS, checkpoint=point)
    assert (result.kind, result.first_bad_seq) == (ChainProblem.CHECKPOINT_MISMATCH, 2)


def test_a_started_chain_names_when_it_started_and_verifies_empty(session: Session) -> None:
    head = read_head(session, AuditChain.ACCESS_RIGHTS)  # the suite's `db upgrade` started it
    assert head is not None and head.mac is not None and head.started_at is not None
    result = verify_chain(session, AuditChain.ACCESS_RIGHTS)
    assert (result.ok, result.checked, result.started_at) == (True, 0, head.started_at)


def test_deleting_every_record_and_resetting_the_head_to_its_migrated_state_is_reported(
    session: Session,
) -> None:
    append_events(session, 3)
    act_as_dba(session)
    remove(session, AuditEvent, 1, 2, 3)
    rewrite_head(session, "access", **PRISTINE_HEAD)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind) == (False, ChainProblem.NOT_STARTED)
    assert "no keyed genesis" in (result.problem or "")


def test_resetting_the_head_but_keeping_the_records_is_reported_as_records_beyond_it(
    session: Session,
) -> None:
    append_events(session, 3)
    act_as_dba(session)
    rewrite_head(session, "access", **PRISTINE_HEAD)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, ChainProblem.BEYOND_HEAD, 1)
    assert "seq 1 lies beyond the chain head" in (result.problem or "")


def test_replaying_an_older_signed_head_in_front_of_newer_records_is_reported(
    session: Session,
) -> None:
    append_events(session, 4)
    old_head = session.execute(
        select(AuditChainHead.__table__).where(AuditChainHead.chain == "access")
    ).one()
    append_events(session, 2)
    act_as_dba(session)
    rewrite_head(session, "access", **{k: v for k, v in old_head._mapping.items() if k != "chain"})
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, ChainProblem.BEYOND_HEAD, 5)
    assert result.checked == 4


def test_a_reset_chain_is_reported_as_reset_against_a_checkpoint(session: Session) -> None:
    append_events(session, 3)
    point = take_checkpoint(session, AuditChain.ACCESS)
    act_as_dba(session)
    remove(session, AuditEvent, 1, 2, 3)
    rewrite_head(session, "access", **PRISTINE_HEAD)
    result = verify_chain(session, AuditChain.ACCESS, checkpoint=point)
    assert (result.ok, result.kind) == (False, ChainProblem.RESET)
    assert "checkpoint names seq 3" in (result.problem or "")


def assert_pristine(session: Session) -> None:
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and head.is_pristine


def test_the_first_linking_starts_a_freshly_migrated_chain_with_a_keyed_genesis(
    session: Session,
) -> None:
    act_as_dba(session)
    rewrite_head(session, "access", **PRISTINE_HEAD)  # as `alembic upgrade` alone leaves it
    assert verify_chain(session, AuditChain.ACCESS).kind is ChainProblem.NOT_STARTED
    before = database_now(session)
    (event,) = append_events(session, 1, link=False)
    assert_pristine(session)  # appending never starts (or reads) the chain
    link_pending(session, AuditChain.ACCESS)  # the first linking starts the chain
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and head.started_at is not None
    assert head.started_at >= before - timedelta(seconds=1)
    assert event.prev_hash == head.genesis_hash == head.anchor_prev_hash
    assert verify_chain(session, AuditChain.ACCESS).ok


def test_a_head_reset_in_front_of_records_refuses_to_start_over_them(session: Session) -> None:
    append_events(session, 2)
    act_as_dba(session)
    rewrite_head(session, "access", **PRISTINE_HEAD)
    with pytest.raises(AuditChainBroken, match="the head was reset"):
        append_events(session, 1)  # the linking refuses


@pytest.mark.parametrize(
    "edit",
    [
        {"started_at": T0},
        {"genesis_hash": "a" * 64},
        {"genesis_hash": None},
        {"started_at": None},
    ],
    ids=["started_at", "genesis_hash", "genesis_hash removed", "started_at removed"],
)
def test_an_altered_genesis_is_reported(session: Session, edit: dict[str, Any]) -> None:
    append_events(session, 2)
    act_as_dba(session)
    rewrite_head(session, "access", **edit)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind) == (False, ChainProblem.HEAD_ALTERED)
    assert "genesis" in (result.problem or "")


def test_a_chain_started_again_after_a_wipe_is_reported_against_a_checkpoint(
    session: Session,
) -> None:
    append_events(session, 1)
    point = take_checkpoint(session, AuditChain.ACCESS)
    assert point.started_at is not None
    act_as_dba(session)
    remove(session, AuditEvent, 1)
    rewrite_head(session, "access", **PRISTINE_HEAD)
    append_events(session, 3)  # the service starts the chain again: a new genesis, a new start
    assert verify_chain(session, AuditChain.ACCESS).ok  # alone, a healthy young chain
    result = verify_chain(session, AuditChain.ACCESS, checkpoint=point)
    assert (result.ok, result.kind) == (False, ChainProblem.RECREATED)
    assert "the chain was started again" in (result.problem or "")


def test_a_checkpoint_of_a_genesis_alone_tells_a_restarted_chain_apart(session: Session) -> None:
    point = take_checkpoint(session, AuditChain.ACCESS_RIGHTS)  # seq 0: the genesis itself
    assert verify_chain(session, AuditChain.ACCESS_RIGHTS, checkpoint=point).ok
    other = Checkpoint(chain=AuditChain.ACCESS_RIGHTS, seq=0, hash="b" * 64)
    result = verify_chain(session, AuditChain.ACCESS_RIGHTS, checkpoint=other)
    assert (result.kind, result.first_bad_seq) == (ChainProblem.CHECKPOINT_MISMATCH, 0)


def test_a_checkpoint_is_signed_and_an_edited_one_fails_its_mac(
    session: Session, keyring: Keyring
) -> None:
    append_events(session, 2)
    point = take_checkpoint(session, AuditChain.ACCESS, taken_at=T0)
    assert point.is_signed_by(keyring.audit_key)
    assert Checkpoint.from_json(point.as_json()) == point
    edited = Checkpoint.from_json({**point.as_json(), "seq": 1})
    assert not edited.is_signed_by(keyring.audit_key)
