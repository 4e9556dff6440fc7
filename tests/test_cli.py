"""The `welfare` command line."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from welfare.database import Database
from welfare.models import SystemMarker


def test_demo_seed_runs_once(runner: FlaskCliRunner, db: Database) -> None:
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "demo district seeded" in first.output
    second = runner.invoke(args=["demo", "seed"])
    assert "already seeded" in second.output
    with db.new_session() as s:
        assert s.scalars(select(SystemMarker.key)).all() == ["demo_seeded"]


def test_scheduler_tick_prints_one_json_object_per_job(
    runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schedulers import registry
    from tests.schedulers.test_runner import mark

    monkeypatch.setattr(registry, "SCHEDULE", (registry.Job("mark", mark),))
    result = runner.invoke(args=["scheduler", "tick", "--as-of", "2026-11-24T09:00:00+09:00"])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    assert line["job"] == "mark"
    assert line["as_of"] == "2026-11-24T00:00:00+00:00"
    assert line["counts"] == {"marked": 1}


def test_scheduler_tick_rejects_an_instant_without_offset(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["scheduler", "tick", "--as-of", "2026-11-24T09:00:00"])
    assert result.exit_code == 2
    assert "offset" in result.output
