"""Monthly partitions (PostgreSQL): rows for any month are stored, partitions exist ahead,
retention drops whole months, and the access chain stays verifiable across a dropped month."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from schedulers import registry
from schedulers.audit_retention import ACCESS_RECORD_RETENTION, prune_audit_records
from schedulers.partitions import keep_partitions_ahead
from services import partitions, residents
from services.audit import (
    AuditChainBroken,
    ChainProblem,
    read_head,
    record_access,
    retention,
    verify_chain,
)
from services.audit.chain import move_head
from services.audit.link import link_pending
from services.audit.marks import PASS_AGE, mark_fields, verify_ahead
from services.partitions import month_start, next_month
from tests.support.audit import act_as_dba, remove, rewrite, staff_actor
from tests.support.casework import unique_rrn
from tests.support.databases import fresh_database
from welfare.crypto.chain import verified_mark_mac
from welfare.crypto.keyring import Keyring
from welfare.database import Database, database_now, make_engine, session_keyring
from welfare.migrate import upgrade
from welfare.models import (
    AuditChain,
    AuditEvent,
    AuditReanchor,
    AuditVerifiedMark,
    Case,
    Contact,
)

pytestmark = pytest.mark.postgres_only


def months_back(month: datetime, count: int) -> datetime:
    """The start of the month `count` months before `month` (a month start)."""
    for _ in range(count):
        month = month_start(month - timedelta(days=1))
    return month


def access_at(session: Session, at: datetime) -> int:
    """An access record appended at `at` and linked; its seq."""
    event = record_access(
        session, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()], at=at
    )
    link_pending(session, AuditChain.ACCESS)
    session.refresh(event)
    assert event.seq is not None
    return event.seq


def home(session: Session, table: str, key: str, value: datetime) -> str:
    """The partition a row of `table` with that key value sits in."""
    return str(
        session.execute(
            text(f"SELECT tableoid::regclass::text FROM {table} WHERE {key} = :v"),
            {"v": value},
        ).scalar_one()
    )


def exists(session: Session, name: str) -> bool:
    return bool(session.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}))


@pytest.fixture
def boundary(session: Session) -> datetime:
    """The first month start whose month is not wholly past access-record retention today."""
    return month_start(database_now(session) - ACCESS_RECORD_RETENTION)


def test_a_record_for_a_month_without_a_partition_is_stored_then_moved_to_its_month(
    session: Session,
) -> None:
    now = database_now(session)
    at = months_back(month_start(now), 40) + timedelta(days=9, hours=3)
    seq = access_at(session, at)
    assert home(session, "audit_events", "at", at) == "audit_events_default"

    counts = keep_partitions_ahead(session, now)

    assert counts["audit_events_moved"] == 1
    assert home(session, "audit_events", "at", at) == f"audit_events_p{at:%Y%m}"
    assert session.scalar(select(AuditEvent.seq).where(AuditEvent.at == at)) == seq
    assert verify_chain(session, AuditChain.ACCESS).ok
    assert keep_partitions_ahead(session, now)["audit_events_moved"] == 0


def test_a_contact_for_a_month_without_a_partition_is_stored(session: Session) -> None:
    now = database_now(session)
    resident = residents.register_resident(
        session, actor=staff_actor(), name="분할", rrn=unique_rrn(), dong="1154551000", now=now
    )
    occurred = months_back(month_start(now), 30) + timedelta(days=2)
    contact = _contact(session, resident.id, occurred)
    assert home(session, "contacts", "occurred_at", occurred) == "contacts_default"
    keep_partitions_ahead(session, now)
    assert home(session, "contacts", "occurred_at", occurred) == f"contacts_p{occurred:%Y%m}"
    assert session.get(Contact, contact.id) is not None


def test_partitions_exist_for_this_month_and_three_ahead_and_are_made_once(
    session: Session,
) -> None:
    later = database_now(session) + timedelta(days=400)  # months nobody has made yet
    counts = keep_partitions_ahead(session, later)
    assert (counts["audit_events_created"], counts["contacts_created"]) == (4, 4)
    month = month_start(later)
    for _ in range(4):
        for table in partitions.PARTITIONED:
            assert exists(session, partitions.partition_name(table, month))
        month = next_month(month)
    again = keep_partitions_ahead(session, later)
    assert (again["audit_events_created"], again["contacts_created"]) == (0, 0)
    (job,) = [j for j in registry.SCHEDULE if j.name == "partitions"]
    assert job.every <= timedelta(days=1)


def test_retention_drops_whole_months_and_verify_names_them(
    session: Session, boundary: datetime
) -> None:
    now = database_now(session)
    oldest, older = months_back(boundary, 3), months_back(boundary, 1)
    first = access_at(session, oldest + timedelta(days=4))
    access_at(session, older + timedelta(days=4))
    # Past retention or not, a record in the month holding the cut-off stays with its month.
    kept_at = boundary + timedelta(minutes=1)
    kept = access_at(session, kept_at)
    access_at(session, now)

    counts = prune_audit_records(session, now)

    assert (counts["access_pruned"], counts["access_partitions_dropped"]) == (2, 2)
    for month in (oldest, older):
        assert not exists(session, partitions.partition_name("audit_events", month))
    assert exists(session, partitions.partition_name("audit_events", boundary))
    assert session.scalar(select(AuditEvent.seq).where(AuditEvent.at == kept_at)) == kept
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    assert head.anchor_seq == kept
    result = verify_chain(session, AuditChain.ACCESS)
    assert result.ok, result.problem
    (drop,) = result.dropped
    assert (drop.first_seq, drop.last_seq) == (first, kept - 1)
    assert drop.months == (f"{oldest:%Y-%m}", f"{older:%Y-%m}")
    assert "dropped by retention" in drop.describe()
    assert prune_audit_records(session, now)["access_partitions_dropped"] == 0


@pytest.mark.parametrize("tampering", ["altered", "deleted", "truncated"])
def test_after_a_drop_tampering_with_what_remains_is_still_caught(
    session: Session, boundary: datetime, tampering: str
) -> None:
    now = database_now(session)
    access_at(session, months_back(boundary, 2) + timedelta(days=1))
    kept = access_at(session, boundary + timedelta(days=3))
    middle = access_at(session, now - timedelta(days=1))
    newest = access_at(session, now)
    assert prune_audit_records(session, now)["access_partitions_dropped"] == 1
    act_as_dba(session)
    if tampering == "altered":
        rewrite(session, AuditEvent, kept, ip="192.0.2.99")
        expected = (ChainProblem.ALTERED, kept)
    elif tampering == "deleted":
        remove(session, AuditEvent, middle)
        expected = (ChainProblem.MISSING, middle)
    else:
        remove(session, AuditEvent, newest)
        expected = (ChainProblem.TRUNCATED, newest)
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, *expected)


def test_a_month_dropped_behind_retentions_back_is_tampering(
    session: Session, boundary: datetime
) -> None:
    now = database_now(session)
    old = months_back(boundary, 2)
    first = access_at(session, old + timedelta(days=1))
    access_at(session, now)
    keep_partitions_ahead(session, now)
    session.execute(text(f"DROP TABLE audit_events_p{old:%Y%m}"))
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, ChainProblem.MISSING, first)
    assert result.dropped == ()


def test_an_altered_reanchor_record_is_caught(session: Session, boundary: datetime) -> None:
    now = database_now(session)
    access_at(session, months_back(boundary, 2) + timedelta(days=1))
    access_at(session, now)
    prune_audit_records(session, now)
    session.execute(text("ALTER TABLE audit_reanchors DISABLE TRIGGER USER"))
    session.execute(text("""UPDATE audit_reanchors SET months = '["1999-01"]'"""))
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind) == (False, ChainProblem.REANCHOR_ALTERED)


def test_reanchor_records_are_append_only(session: Session, boundary: datetime) -> None:
    now = database_now(session)
    access_at(session, months_back(boundary, 2) + timedelta(days=1))
    prune_audit_records(session, now)
    assert session.scalar(select(AuditReanchor.id)) is not None
    for statement in ("DELETE FROM audit_reanchors", "UPDATE audit_reanchors SET chain = 'x'"):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement))


def test_an_old_record_linked_after_a_younger_one_holds_its_month_back(
    session: Session, boundary: datetime
) -> None:
    """Dropping its month would cut a hole in the chain: the month waits (kept longer, never
    dropped early), and the chain still verifies."""
    now = database_now(session)
    young = access_at(session, now)
    late = access_at(session, months_back(boundary, 2) + timedelta(days=1))
    assert late > young
    counts = prune_audit_records(session, now)
    assert (counts["access_pruned"], counts["access_partitions_dropped"]) == (0, 0)
    assert counts["access_partitions_held_back"] == 1
    assert verify_chain(session, AuditChain.ACCESS).ok


def test_a_partition_cannot_be_truncated(session: Session) -> None:
    now = database_now(session)
    keep_partitions_ahead(session, now + timedelta(days=800))
    for name in (
        partitions.partition_name("audit_events", month_start(now)),  # made by the migration
        partitions.partition_name("audit_events", month_start(now + timedelta(days=800))),
        "audit_events_default",
    ):
        with pytest.raises(DBAPIError, match="TRUNCATE"), session.begin_nested():
            session.execute(text(f"TRUNCATE {name}"))


def test_contact_months_past_a_configured_retention_go_except_on_open_cases(
    session: Session,
) -> None:
    now = database_now(session)
    actor = staff_actor()
    on_case = residents.register_resident(
        session, actor=actor, name="사례", rrn=unique_rrn(), dong="1154551000", now=now
    )
    other = residents.register_resident(
        session, actor=actor, name="일반", rrn=unique_rrn(), dong="1154551000", now=now
    )
    retention = timedelta(days=1095)
    cut = month_start(now - retention)
    held_month, gone_month = months_back(cut, 2), months_back(cut, 4)
    _contact(session, on_case.id, held_month + timedelta(days=1))
    _contact(session, other.id, held_month + timedelta(days=2))
    _contact(session, other.id, gone_month + timedelta(days=1))
    young = _contact(session, other.id, now - timedelta(days=1))
    session.add(
        Case(
            id=uuid.uuid4(),
            resident_id=on_case.id,
            dong_code="1154551000",
            program="care_center",
            status="open",
            opened_at=now,
            updated_at=now,
        )
    )
    session.flush()

    counts = prune_audit_records(session, now, contact_retention=retention)

    assert counts["contacts_pruned"] == 1
    assert counts["contact_partitions_dropped"] == 1
    assert counts["contact_partitions_held"] == 1
    assert not exists(session, partitions.partition_name("contacts", gone_month))
    assert exists(session, partitions.partition_name("contacts", held_month))
    assert session.get(Contact, young.id) is not None
    # Without a configured retention contacts are kept, as they always were.
    assert "contacts_pruned" not in prune_audit_records(session, now)


def _contact(session: Session, resident_id: uuid.UUID, occurred_at: datetime) -> Contact:
    contact = Contact(
        id=uuid.uuid4(),
        resident_id=resident_id,
        dong_code="1154551000",
        program="ongi",
        channel="phone",
        outcome="reached",
        occurred_at=occurred_at,
        recorded_at=occurred_at,
        staff_id=None,
        source="staff",
    )
    session.add(contact)
    session.flush()
    return contact


def test_linking_goes_on_while_retention_verifies_the_months_it_drops(
    tmp_path: Path, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verifying walk over the months that go (hours at a city's scale) holds no chain
    lock: another node links a record in the middle of it, within a lock timeout, and the
    drop still happens and verifies."""
    with fresh_database(tmp_path, "retention") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        database = Database(url, keyring=keyring)
        try:
            with database.transaction() as s:
                now = database_now(s)
                boundary = month_start(now - ACCESS_RECORD_RETENTION)
                first = access_at(s, months_back(boundary, 2) + timedelta(days=1))
                access_at(s, now)
                keep_partitions_ahead(s, now)
                partitions.ensure_partitions(s, now)  # the old month's row leaves DEFAULT now
            linked: list[int] = []
            walk = retention.walk_chain

            def walk_while_another_node_links(*args: Any, **kwargs: Any) -> Any:
                with database.transaction() as other:
                    other.execute(text("SET LOCAL lock_timeout = '5s'"))
                    linked.append(access_at(other, now))
                return walk(*args, **kwargs)

            monkeypatch.setattr(retention, "walk_chain", walk_while_another_node_links)
            with database.transaction() as s:
                counts = prune_audit_records(s, now)
            assert counts["access_partitions_dropped"] == 1 and len(linked) == 1
            with database.transaction() as s:
                result = verify_chain(s, AuditChain.ACCESS)
                assert result.ok, result.problem
                assert [(d.first_seq, d.last_seq) for d in result.dropped] == [(first, first)]
                head = read_head(s, AuditChain.ACCESS)
                assert head is not None and head.last_seq == linked[0]
        finally:
            database.dispose()


def test_a_drop_planned_before_another_run_moved_the_anchor_drops_nothing(
    session: Session, boundary: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another retention run that re-anchors the chain while this one verifies wins; this one
    drops nothing and says why (its next run starts over)."""
    now = database_now(session)
    access_at(session, months_back(boundary, 2) + timedelta(days=1))
    access_at(session, now)
    keep_partitions_ahead(session, now)
    partitions.ensure_partitions(session, now)
    walk = retention.walk_chain
    seen: list[int] = []

    def walk_then_anchor_moves(*args: Any, **kwargs: Any) -> Any:
        walked = walk(*args, **kwargs)
        head = read_head(session, AuditChain.ACCESS)
        assert head is not None
        seen.append(head.anchor_seq)
        move_head(
            session,
            head,
            replace(head, anchor_seq=head.anchor_seq + 1, anchor_prev_hash=walked.last_hash),
            session_keyring(session).audit_key,
            now,
        )
        return walked

    monkeypatch.setattr(retention, "walk_chain", walk_then_anchor_moves)
    dropped = retention.drop_expired_partitions(
        session, chain=AuditChain.ACCESS, older_than=now - ACCESS_RECORD_RETENTION
    )
    assert (dropped.rows, dropped.months) == (0, [])
    assert dropped.held_back == retention.MOVED_WHILE_VERIFYING
    assert exists(session, partitions.partition_name("audit_events", months_back(boundary, 2)))
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and head.anchor_seq == seen[0] + 1


def old_pass_mark(session: Session, seq: int) -> None:
    """A valid mark of a pass that started two days ago and walked up to `seq`."""
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    now = database_now(session)
    record = AuditVerifiedMark(
        id=uuid.uuid4(),
        chain="access",
        seq=seq,
        hash=session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq)),
        pass_from=head.anchor_seq,
        pass_started_at=now - 2 * PASS_AGE,
        at=now - 2 * PASS_AGE,
        mac="",
    )
    record.mac = verified_mark_mac(session_keyring(session).audit_key, mark_fields(record, head))
    session.add(record)
    session.flush()


@pytest.mark.parametrize("ahead", ["caught_up", "partway", "forged", "old_pass"])
def test_retention_walks_only_what_the_verified_marks_do_not_cover(
    session: Session, boundary: datetime, monkeypatch: pytest.MonkeyPatch, ahead: str
) -> None:
    now = database_now(session)
    old = months_back(boundary, 2)
    first = access_at(session, old + timedelta(days=1))
    second = access_at(session, old + timedelta(days=2))
    kept = access_at(session, now)
    keep_partitions_ahead(session, now)
    partitions.ensure_partitions(session, now)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    if ahead == "caught_up":
        verify_ahead(session, AuditChain.ACCESS)  # past the cut: the dropped links are covered
    elif ahead == "partway":
        verify_ahead(session, AuditChain.ACCESS, limit=second - head.anchor_seq)  # up to `first`
    elif ahead == "forged":
        forged = AuditVerifiedMark(
            id=uuid.uuid4(),
            chain="access",
            seq=kept,
            hash="0" * 64,
            pass_from=head.anchor_seq,
            pass_started_at=now,
            at=now,
            mac="0" * 64,
        )
        session.add(forged)
        session.flush()
    else:
        old_pass_mark(session, kept)  # a day old: a new pass should have begun, not trusted
    walked: list[int] = []
    walk = retention.walk_chain

    def spy(*args: Any, **kwargs: Any) -> Any:
        walked.append(kwargs["first_seq"])
        return walk(*args, **kwargs)

    monkeypatch.setattr(retention, "walk_chain", spy)
    counts = prune_audit_records(session, now)

    assert counts["access_partitions_dropped"] == 1
    expected = {
        "caught_up": [],
        "partway": [second],
        "forged": [head.anchor_seq],
        "old_pass": [head.anchor_seq],
    }[ahead]
    assert walked == expected
    result = verify_chain(session, AuditChain.ACCESS)
    assert result.ok, result.problem
    assert [(d.first_seq, d.last_seq) for d in result.dropped][-1] == (first, second)


def test_a_record_altered_after_an_old_pass_walked_it_stops_the_next_pass_and_the_drop(
    session: Session, boundary: datetime
) -> None:
    """The attack the marks must not open: alter an expiring record long after a pass walked
    it. The next pass fails at it every run, and retention, which trusts the current pass only,
    walks into it and drops nothing; verify names it."""
    now = database_now(session)
    old = months_back(boundary, 2)
    first = access_at(session, old + timedelta(days=1))
    access_at(session, old + timedelta(days=2))
    kept = access_at(session, now)
    keep_partitions_ahead(session, now)
    partitions.ensure_partitions(session, now)
    old_pass_mark(session, kept)
    act_as_dba(session)
    rewrite(session, AuditEvent, first, action="export")

    with pytest.raises(AuditChainBroken, match=f"seq {first}"), session.begin_nested():
        verify_ahead(session, AuditChain.ACCESS)
    with pytest.raises(AuditChainBroken, match=f"seq {first}"), session.begin_nested():
        prune_audit_records(session, now)

    assert exists(session, partitions.partition_name("audit_events", old))
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.kind, result.first_bad_seq) == (False, ChainProblem.ALTERED, first)


def test_the_last_dropped_links_hash_changed_after_it_was_walked_stops_the_drop(
    session: Session, boundary: datetime
) -> None:
    """Re-anchoring on a hash nobody checked would leave a chain that never verifies again,
    blaming the first kept record: the drop refuses, and verify names the altered link."""
    now = database_now(session)
    old = months_back(boundary, 2)
    access_at(session, old + timedelta(days=1))
    second = access_at(session, old + timedelta(days=2))
    access_at(session, now)
    keep_partitions_ahead(session, now)
    partitions.ensure_partitions(session, now)
    verify_ahead(session, AuditChain.ACCESS)  # the current pass walked past the cut
    act_as_dba(session)
    rewrite(session, AuditEvent, second, hash="d" * 64)

    with pytest.raises(AuditChainBroken, match="does not follow"), session.begin_nested():
        prune_audit_records(session, now)

    assert exists(session, partitions.partition_name("audit_events", old))
    result = verify_chain(session, AuditChain.ACCESS)
    assert (result.ok, result.first_bad_seq) == (False, second)
