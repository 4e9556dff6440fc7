"""The `welfare` console script: its entry point, the commands it lists, start-up refusals."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from welfare.main import main

COMMANDS = ("audit", "db", "demo", "keys", "residents", "scheduler", "serve", "staff", "tokens")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment like a fresh install's: only a data directory of its own."""
    for name in [n for n in os.environ if n.startswith("WELFARE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WELFARE_DATA_DIR", str(tmp_path))
    return monkeypatch


def test_the_installed_welfare_script_is_welfare_main() -> None:
    (script,) = entry_points(group="console_scripts", name="welfare")
    assert script.value == "welfare.main:main"
    assert script.load() is main


def test_the_console_script_lists_every_command(environment: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Geumcheon Welfare: case management" in result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert set(COMMANDS) <= listed


def test_the_console_script_migrates_a_fresh_data_directory(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    assert (tmp_path / "welfare.db").exists()


def test_the_console_script_refuses_unsafe_production_settings_in_one_line(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("WELFARE_ENV", "production")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "welfare: Refusing to start in production" in result.output
    assert "Traceback" not in result.output


def test_a_fresh_install_starts_its_audit_chains_and_verifies(
    environment: pytest.MonkeyPatch,
) -> None:
    """`db upgrade` holds the key the migration does not: it writes each chain's keyed genesis,
    so the unkeyed head a reset would leave behind never passes verification."""
    upgraded = CliRunner().invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "audit chains started: access records since 20" in upgraded.output
    verified = CliRunner().invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "access records: 0 links verified" in verified.output
    again = CliRunner().invoke(main, ["db", "upgrade"])  # idempotent: the same start
    assert again.exit_code == 0, again.output
    assert upgraded.output.splitlines()[-1] == again.output.splitlines()[-1]


def test_db_upgrade_writes_the_first_checkpoints_and_refuses_to_restart_a_reset_chain(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A chain the sink remembers is never started again over an unkeyed head: that would
    launder a wiped trail into a fresh one."""
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    sink = tmp_path / "audit-checkpoints.jsonl"
    assert [json.loads(line)["seq"] for line in sink.read_text().splitlines()] == [0, 0]
    with closing(sqlite3.connect(tmp_path / "welfare.db")) as conn, conn:  # an administrator
        conn.execute("DROP TRIGGER audit_chain_heads_forward_only")
        conn.execute(
            "UPDATE audit_chain_heads SET mac = NULL, started_at = NULL, genesis_hash = NULL, "
            "last_hash = :zero, anchor_prev_hash = :zero WHERE chain = 'access'",
            {"zero": "0" * 64},
        )
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert again.exit_code == 1, again.output
    assert "holds a checkpoint at seq 0: the records were removed and the head reset" in (
        again.output
    )
    verified = CliRunner().invoke(main, ["audit", "verify"])
    assert verified.exit_code == 1
    assert "access records: BROKEN at seq 1: the chain head is back in its freshly migrated" in (
        verified.output
    )
