"""`welfare audit verify` and `welfare audit review` on the test database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from flask.testing import FlaskCliRunner

from services.audit import record_access, record_right_change
from tests.support.audit import (
    PRISTINE_HEAD,
    act_as_dba,
    remove,
    rewrite,
    rewrite_head,
    staff_actor,
)
from welfare.database import Database
from welfare.models import AuditEvent, Role

OCTOBER_NIGHT = datetime(2026, 10, 7, 14, 30, tzinfo=UTC)  # 23:30 in Seoul


def fill(db: Database, events: int = 3) -> None:
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
