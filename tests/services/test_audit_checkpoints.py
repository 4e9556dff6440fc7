"""Checkpoints leave the database: signed heads appended to a sink, compared before every write."""

from __future__ import annotations

import json
import os
import socket
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.audit import (
    ChainProblem,
    Checkpoint,
    CheckpointRefused,
    CheckpointSinkError,
    read_head,
    record_access,
    ship_checkpoints,
    take_checkpoint,
    verify_chain,
)
from services.audit.link import link_chains
from services.audit.sinks import DirectorySink, FileSink, SyslogSink, line_of
from tests.support.audit import PRISTINE_HEAD, act_as_dba, remove, rewrite_head, staff_actor
from welfare.crypto.keyring import Keyring
from welfare.models import AuditChain, AuditChainHead, AuditEvent

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def append(session: Session, count: int) -> None:
    actor = staff_actor()
    for i in range(count):
        record_access(
            session,
            actor=actor,
            action="read",
            resident_ids=[uuid.uuid4()],
            at=T0 + timedelta(minutes=i),
        )
    link_chains(session)  # what the audit_link job does within seconds


@pytest.fixture
def sink(tmp_path: Path) -> FileSink:
    return FileSink(tmp_path / "data" / "audit-checkpoints.jsonl")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_chain_s_signed_head_is_appended_to_a_private_file(
    session: Session, sink: FileSink, keyring: Keyring
) -> None:
    append(session, 3)
    assert ship_checkpoints(session, sink)["written"] == 2
    assert stat.S_IMODE(os.stat(sink.path).st_mode) == 0o600
    written = lines(sink.path)
    assert [(p["chain"], p["seq"]) for p in written] == [("access", 3), ("access_rights", 0)]
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and head.started_at is not None
    point = Checkpoint.from_json(written[0])
    assert (point.hash, point.started_at) == (head.last_hash, head.started_at)
    assert point.is_signed_by(keyring.audit_key)
    append(session, 2)
    counts = ship_checkpoints(session, sink)
    assert (counts["written"], counts["unchanged"]) == (1, 1)  # an idle chain is not repeated
    assert [p["seq"] for p in lines(sink.path)] == [3, 0, 5]  # appended, nothing rewritten


def test_the_sink_s_latest_checkpoint_per_chain_is_its_highest(
    session: Session, sink: FileSink, keyring: Keyring
) -> None:
    append(session, 2)
    ship_checkpoints(session, sink)
    append(session, 1)
    ship_checkpoints(session, sink)
    reading = sink.read(keyring.audit_key)
    assert (reading.problems, reading.notes) == ([], [])
    assert {c: p.seq for c, p in reading.latest.items()} == {
        AuditChain.ACCESS: 3,
        AuditChain.ACCESS_RIGHTS: 0,
    }


def test_a_line_forged_into_the_sink_fails_its_mac_and_blocks_the_next_checkpoint(
    session: Session, sink: FileSink, keyring: Keyring
) -> None:
    append(session, 2)
    ship_checkpoints(session, sink)
    forged = Checkpoint.from_json({**lines(sink.path)[0], "seq": 1})  # "it only reached seq 1"
    with sink.path.open("ab") as handle:
        handle.write(line_of(forged))
    reading = sink.read(keyring.audit_key)
    assert reading.latest[AuditChain.ACCESS].seq == 2  # the forged line never counts
    assert len(reading.problems) == 1 and "fails its MAC" in reading.problems[0]
    with pytest.raises(CheckpointRefused, match="fails its MAC"):
        ship_checkpoints(session, sink)


def test_a_line_torn_by_a_crash_is_noted_and_the_next_line_starts_on_its_own(
    session: Session, sink: FileSink, keyring: Keyring
) -> None:
    append(session, 1)
    ship_checkpoints(session, sink)
    with sink.path.open("ab") as handle:
        handle.write(b'{"chain":"access","se')
    append(session, 1)
    ship_checkpoints(session, sink)
    reading = sink.read(keyring.audit_key)
    assert reading.latest[AuditChain.ACCESS].seq == 2
    assert reading.problems == []
    assert ["not a checkpoint line" in note for note in reading.notes] == [True]
    assert sink.path.read_bytes().count(b"\n") == 4  # the torn line stayed a line of its own


def test_a_replayed_older_head_is_refused_and_nothing_is_written(
    session: Session, sink: FileSink
) -> None:
    """The attack of SECURITY finding 2: SQLite keeps an older valid head in its main file
    until the WAL is checkpointed; written back after the newest records are deleted, it is a
    correctly signed head of a shorter chain."""
    append(session, 4)
    old_head = session.execute(
        select(AuditChainHead.__table__).where(AuditChainHead.chain == "access")
    ).one()
    append(session, 2)
    ship_checkpoints(session, sink)
    act_as_dba(session)
    remove(session, AuditEvent, 5, 6)
    rewrite_head(session, "access", **{k: v for k, v in old_head._mapping.items() if k != "chain"})
    before = sink.path.read_bytes()
    with pytest.raises(CheckpointRefused, match=r"behind the checkpoint \(seq 6\)"):
        ship_checkpoints(session, sink)
    assert sink.path.read_bytes() == before


def test_a_chain_reset_while_the_sink_remembers_it_is_not_started_again(
    session: Session, sink: FileSink
) -> None:
    append(session, 2)
    ship_checkpoints(session, sink)
    act_as_dba(session)
    remove(session, AuditEvent, 1, 2)
    rewrite_head(session, "access", **PRISTINE_HEAD)
    with pytest.raises(CheckpointRefused, match="holds a checkpoint at seq 2"):
        ship_checkpoints(session, sink)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None and head.is_pristine  # not laundered into a new genesis


def test_an_unkeyed_chain_is_started_first_and_checkpointed_on_the_next_run(
    session: Session, sink: FileSink
) -> None:
    act_as_dba(session)
    rewrite_head(session, "access_rights", **PRISTINE_HEAD)  # as plain `alembic upgrade` leaves it
    counts = ship_checkpoints(session, sink)
    assert (counts["started"], counts["written"]) == (1, 1)
    assert [p["chain"] for p in lines(sink.path)] == ["access"]
    assert ship_checkpoints(session, sink)["written"] == 1
    assert lines(sink.path)[-1]["chain"] == "access_rights"


def test_verify_against_the_latest_checkpoint_names_the_rollback(
    session: Session, sink: FileSink, keyring: Keyring
) -> None:
    append(session, 3)
    ship_checkpoints(session, sink)
    point = sink.read(keyring.audit_key).latest[AuditChain.ACCESS]
    assert verify_chain(session, AuditChain.ACCESS, checkpoint=point).ok
    assert point == take_checkpoint(session, AuditChain.ACCESS, taken_at=point.taken_at)
    act_as_dba(session)
    remove(session, AuditEvent, 3)
    head = read_head(session, AuditChain.ACCESS)
    assert head is not None
    result = verify_chain(session, AuditChain.ACCESS, checkpoint=point)
    assert result.kind is ChainProblem.TRUNCATED  # the head itself still names seq 3


def test_a_directory_sink_keeps_a_file_per_host_and_reads_the_latest_of_all(
    session: Session, tmp_path: Path, keyring: Keyring
) -> None:
    one, two = DirectorySink(tmp_path, host="node-1"), DirectorySink(tmp_path, host="node/2")
    append(session, 1)
    ship_checkpoints(session, one)
    append(session, 1)
    ship_checkpoints(session, two)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audit-checkpoints-node-1.jsonl",
        "audit-checkpoints-node_2.jsonl",
    ]
    assert one.read(keyring.audit_key).latest[AuditChain.ACCESS].seq == 2


def test_a_directory_sink_that_is_not_mounted_fails_instead_of_filling_the_local_disk(
    session: Session, tmp_path: Path
) -> None:
    missing = DirectorySink(tmp_path / "not-mounted", host="n")
    with pytest.raises(CheckpointSinkError, match="does not exist"):
        ship_checkpoints(session, missing)
    assert not (tmp_path / "not-mounted").exists()


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        yield listener


def test_a_syslog_sink_sends_one_message_per_checkpoint(
    session: Session, udp_listener: socket.socket, keyring: Keyring
) -> None:
    port = udp_listener.getsockname()[1]
    append(session, 1)
    assert ship_checkpoints(session, SyslogSink(f"udp://127.0.0.1:{port}"))["written"] == 2
    first = udp_listener.recv(4096)
    assert first.startswith(b"<85>welfare-audit-checkpoint: {")
    point = Checkpoint.from_json(json.loads(first.split(b": ", 1)[1]))
    assert (point.chain, point.seq) == (AuditChain.ACCESS, 1)
    assert point.is_signed_by(keyring.audit_key)


def test_a_syslog_sink_that_cannot_be_reached_fails_the_write(
    session: Session, tmp_path: Path
) -> None:
    with pytest.raises(CheckpointSinkError, match="cannot write to syslog"):
        ship_checkpoints(session, SyslogSink(str(tmp_path / "no-such-socket")))


def test_an_old_signed_line_appended_again_never_passes_for_the_latest(
    session: Session, sink: FileSink, keyring: Keyring
) -> None:
    """Where the file is append-only (chattr +a, a WORM share), appending an old, validly signed
    line is the one move left; it must not make an older head look current."""
    append(session, 2)
    ship_checkpoints(session, sink)
    old_line = sink.path.read_bytes().splitlines(keepends=True)[0]
    append(session, 3)
    ship_checkpoints(session, sink)
    with sink.path.open("ab") as handle:
        handle.write(old_line)
    reading = sink.read(keyring.audit_key)
    assert reading.latest[AuditChain.ACCESS].seq == 5
    assert any("goes back to seq 2 after seq 5" in p for p in reading.problems)


def test_a_sink_reads_only_what_was_appended_since_and_rereads_a_shortened_file(
    session: Session, sink: FileSink, keyring: Keyring
) -> None:
    append(session, 1)
    ship_checkpoints(session, sink)
    assert sink.read(keyring.audit_key).latest[AuditChain.ACCESS].seq == 1
    append(session, 1)
    ship_checkpoints(session, sink)  # reads the first line again from memory, then appends
    assert sink.read(keyring.audit_key).latest[AuditChain.ACCESS].seq == 2
    first_line = sink.path.read_bytes().splitlines(keepends=True)[0]
    sink.path.write_bytes(first_line)  # truncated behind the sink's back
    assert sink.read(keyring.audit_key).latest[AuditChain.ACCESS].seq == 1
