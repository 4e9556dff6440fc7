"""`welfare audit verify` (against the checkpoints outside the database), `checkpoint` and
`review` on the test database."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from schedulers import registry
from schedulers.audit_retention import ACCESS_RECORD_RETENTION
from schedulers.runner import run_job
from services.audit import link_chains, record_access, record_right_change
from services.audit.sinks import SyslogSink
from services.partitions import month_start
from tests.support.audit import (
    PRISTINE_HEAD,
    act_as_dba,
    remove,
    rewrite,
    rewrite_head,
    staff_actor,
)
from welfare.database import Database, database_now
from welfare.models import AuditChainHead, AuditEvent, Role

OCTOBER_NIGHT = datetime(2026, 10, 7, 14, 30, tzinfo=UTC)  # 23:30 in Seoul


def fill(db: Database, events: int = 3, *, link: bool = True) -> None:
    """Append records, then (unless told not to) run the linking job's step as it would within
    seconds."""
    with db.transaction() as s:
        for _ in range(events):
            record_access(
                s,
                actor=staff_actor(),
                action="read",
                resident_ids=[uuid.uuid4()],
                at=OCTOBER_NIGHT,
            )
        record_right_change(
            s,
            actor=staff_actor(Role.ADMIN),
            target_staff_id=uuid.uuid4(),
            change="created",
            before={},
            after={"role": "counselor"},
        )
    if link:
        with db.transaction() as s:
            link_chains(s)


def test_verify_exits_zero_and_counts_the_links_of_a_good_chain(
    runner: FlaskCliRunner, db: Database
) -> None:
    fill(db)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "access records: 3 links verified" in result.output
    assert "access-right changes: 1 link verified" in result.output


def test_verify_exits_non_zero_and_names_the_seq_of_a_tampered_record(
    runner: FlaskCliRunner, db: Database
) -> None:
    fill(db, events=4)
    with db.transaction() as s:
        act_as_dba(s)
        rewrite(s, AuditEvent, 2, action="search")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "access records: BROKEN at seq 2" in result.output
    assert "access-right changes: 1 link verified" in result.output


def test_review_prints_the_month_as_json(runner: FlaskCliRunner, db: Database) -> None:
    fill(db)
    result = runner.invoke(args=["audit", "review", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    review = json.loads(result.output)
    assert review["month"] == "2026-10"
    assert review["totals"]["out_of_hours"] == 3
    later = runner.invoke(args=["audit", "review", "--month", "2026-10", "--workday-end", "23:45"])
    assert json.loads(later.output)["totals"]["out_of_hours"] == 0


def test_review_rejects_a_malformed_month(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "review", "--month", "October"])
    assert result.exit_code == 2
    assert "2026-10" in result.output


def test_a_checkpoint_printed_earlier_verifies_the_chain_later(
    runner: FlaskCliRunner, db: Database, tmp_path: Path
) -> None:
    fill(db)
    taken = runner.invoke(args=["audit", "checkpoint"])
    assert taken.exit_code == 0, taken.output
    lines = [json.loads(line) for line in taken.output.splitlines()]
    assert [(p["chain"], p["seq"]) for p in lines] == [("access", 3), ("access_rights", 1)]
    store = tmp_path / "checkpoints.jsonl"
    store.write_text(taken.output, encoding="utf-8")
    fill(db)
    good = runner.invoke(args=["audit", "verify", "--checkpoint", str(store)])
    assert good.exit_code == 0, good.output


def test_verify_refuses_a_checkpoint_file_it_cannot_read(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    store = tmp_path / "checkpoints.jsonl"
    store.write_text('{"chain": "access"}\n', encoding="utf-8")
    result = runner.invoke(args=["audit", "verify", "--checkpoint", str(store)])
    assert result.exit_code == 2
    assert "line 1 is not a checkpoint" in result.output


def test_verify_fails_when_the_records_are_wiped_and_the_head_reset_to_its_migrated_state(
    runner: FlaskCliRunner, db: Database
) -> None:
    fill(db)
    with db.transaction() as s:
        act_as_dba(s)
        remove(s, AuditEvent, 1, 2, 3)
        rewrite_head(s, "access", **PRISTINE_HEAD)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "access records: BROKEN: the chain has no keyed genesis" in result.output


def test_verify_fails_when_the_head_is_reset_in_front_of_the_records(
    runner: FlaskCliRunner, db: Database
) -> None:
    fill(db)
    with db.transaction() as s:
        act_as_dba(s)
        rewrite_head(s, "access", **PRISTINE_HEAD)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "access records: BROKEN at seq 1: seq 1 lies beyond the chain head" in result.output


def test_verify_refuses_a_checkpoint_line_edited_after_it_was_printed(
    runner: FlaskCliRunner, db: Database, tmp_path: Path
) -> None:
    fill(db)
    taken = runner.invoke(args=["audit", "checkpoint"])
    lines = [json.loads(line) for line in taken.output.splitlines()]
    assert all(p["mac"] and p["started_at"] for p in lines)
    lines[0]["seq"] = 2  # an attacker's "the chain only ever reached seq 2"
    store = tmp_path / "checkpoints.jsonl"
    store.write_text("\n".join(json.dumps(p) for p in lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["audit", "verify", "--checkpoint", str(store)])
    assert result.exit_code == 1, result.output
    assert "line 1 fails its MAC" in result.output


def checkpoint_job() -> registry.Job:
    (job,) = [j for j in registry.SCHEDULE if j.name == "audit_checkpoint"]
    return job


def test_verify_checks_against_the_job_s_latest_checkpoint_and_catches_a_replayed_head(
    runner: FlaskCliRunner, db: Database, checkpoint_file: Path
) -> None:
    """SQLite keeps an older valid head in its main file until the WAL is checkpointed; written
    back after the newest records are deleted, the database alone shows a healthy shorter chain.
    The scheduled checkpoint, kept outside the database, still names the newest record."""
    fill(db, events=4)
    with db.new_session() as s:
        old_head = s.execute(
            select(AuditChainHead.__table__).where(AuditChainHead.chain == "access")
        ).one()
    fill(db, events=2)
    assert run_job(db, checkpoint_job(), coordinate=False).status == "succeeded"
    assert checkpoint_file.exists()
    with db.transaction() as s:
        act_as_dba(s)
        remove(s, AuditEvent, 5, 6)
        rewrite_head(s, "access", **{k: v for k, v in old_head._mapping.items() if k != "chain"})
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert f"checkpoints: latest in file {checkpoint_file}: access records seq 6" in result.output
    assert (
        "access records: BROKEN at seq 5: the chain head (seq 4) is behind the checkpoint (seq 6)"
        in result.output
    )


def test_verify_says_plainly_that_the_sink_is_empty(runner: FlaskCliRunner, db: Database) -> None:
    fill(db)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "checkpoints: none yet in file" in result.output


def test_verify_says_plainly_that_no_sink_is_configured(
    app: Flask, runner: FlaskCliRunner, db: Database
) -> None:
    app.extensions["welfare.checkpoint_sink"] = None
    fill(db)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "checkpoints: none: no sink is configured" in result.output
    assert "cannot be detected" in result.output


def test_verify_says_a_syslog_sink_cannot_be_read_back(
    app: Flask, runner: FlaskCliRunner, db: Database
) -> None:
    app.extensions["welfare.checkpoint_sink"] = SyslogSink("udp://127.0.0.1:9")
    fill(db)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "which this command cannot read back; pass the lines collected there" in result.output


def test_verify_fails_on_a_line_forged_into_the_sink(
    runner: FlaskCliRunner, db: Database, checkpoint_file: Path
) -> None:
    fill(db)
    run_job(db, checkpoint_job(), coordinate=False)
    first = json.loads(checkpoint_file.read_text(encoding="utf-8").splitlines()[0])
    with checkpoint_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**first, "seq": 1}) + "\n")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "checkpoints: BROKEN:" in result.output
    assert "fails its MAC" in result.output


def test_verify_reports_records_not_linked_yet_with_their_age_and_passes(
    runner: FlaskCliRunner, db: Database
) -> None:
    fill(db, events=2, link=False)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    waiting = re.search(
        r"access records: 2 records not linked yet \(sealed and checked; the oldest appended "
        r"([\d,]+) s ago\)",
        result.output,
    )
    assert waiting is not None, result.output
    assert int(waiting.group(1).replace(",", "")) > 86_400  # appended at OCTOBER_NIGHT
    assert "access-right changes: 1 record not linked yet" in result.output
    assert "access records: 0 links verified" in result.output


def test_verify_fails_on_a_record_altered_before_it_was_linked(
    runner: FlaskCliRunner, db: Database
) -> None:
    fill(db, events=2, link=False)
    with db.transaction() as s:
        act_as_dba(s)
        s.execute(
            AuditEvent.__table__.update()
            .where(AuditEvent.__table__.c.action == "read")
            .values(action="search")
        )
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "not linked yet, was altered: its seal does not match" in result.output


@pytest.mark.postgres_only
def test_verify_names_the_months_retention_dropped(runner: FlaskCliRunner, db: Database) -> None:
    with db.transaction() as s:
        now = database_now(s)
        old = month_start(now - ACCESS_RECORD_RETENTION) - timedelta(days=20)
        for at in (old, now):
            record_access(s, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()], at=at)
    with db.transaction() as s:
        link_chains(s)
    (job,) = [j for j in registry.SCHEDULE if j.name == "audit_retention"]
    assert run_job(db, job).counts["access_partitions_dropped"] == 1
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"access records: retention: seq (\d+)–\1 \(1 record of {old:%Y-%m}\) dropped by "
        r"retention on \S+, re-anchored at seq \d+",
        result.output,
    ), result.output
    assert "access records: 1 link verified" in result.output
