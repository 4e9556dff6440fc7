"""The demo district: fictional residents in every dong, Ongi history, some already lapsed."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import delete, func, select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import demo, residents
from welfare import cli
from welfare.crypto.passwords import make_hasher
from welfare.database import Database, database_now
from welfare.identity import parse_rrn
from welfare.models import Actor, Contact, OngiEnrollment, Resident, Staff, SystemMarker
from welfare.web import get_settings

HASHER = make_hasher("fast")


def seed(db: Database, size: int = 80) -> demo.DemoDistrict | None:
    with db.new_session() as s:
        return demo.seed_demo_district(s, hasher=HASHER, residents=size)


def counts(db: Database) -> tuple[int, int, int, int]:
    with db.new_session() as s:
        return tuple(  # type: ignore[return-value]  # four models, so four counts
            s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Resident, OngiEnrollment, Contact, Staff)
        )


def test_the_seed_registers_readable_residents_in_every_dong_and_enrolls_some(
    db: Database,
) -> None:
    district = seed(db)
    assert district is not None
    assert district.counts["residents"] == 80
    assert 20 <= district.counts["enrollments"] <= 45  # about 40%
    assert district.counts["contacts"] > district.counts["enrollments"]
    with db.new_session() as s:
        everyone = list(s.scalars(select(Resident)))
        assert len({r.dong_code for r in everyone}) == 10
        views = [residents.view(s, Actor.system("test"), r) for r in everyone]
        risk_levels = set(s.scalars(select(OngiEnrollment.risk_level)))
    assert all(v.name and v.rrn_masked and v.address and "금천구" in v.address for v in views)
    assert any(v.phone and v.phone.startswith("010-") for v in views)
    assert risk_levels == {"high", "medium", "low"}


def test_a_tick_after_the_seed_raises_follow_ups_for_the_lapsed(db: Database) -> None:
    district = seed(db)
    assert district is not None
    assert district.counts["lapsed"] > 0
    with db.new_session() as s:
        now = database_now(s)
    result = run_job(db, Job("followups", run_followups), as_of=now + timedelta(minutes=1))
    assert result.status == "succeeded", result
    assert result.counts["raised"] >= district.counts["lapsed"]


def test_seeding_again_adds_nothing_and_an_interrupted_seed_completes(db: Database) -> None:
    assert seed(db) is not None
    before = counts(db)
    assert seed(db) is None
    assert counts(db) == before
    with db.new_session() as s:  # as if the first run died before writing its marker
        s.execute(delete(SystemMarker).where(SystemMarker.key == demo.DEMO_MARKER))
        s.commit()
    again = seed(db)
    assert again is not None
    assert again.counts["residents"] == again.counts["staff"] == again.counts["enrollments"] == 0
    assert counts(db)[:2] == before[:2]


def test_the_seed_command_prints_demo_credentials_once_and_they_log_in(
    runner: FlaskCliRunner, app: Flask
) -> None:
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "DEMO CREDENTIALS" in first.output
    assert "demo.supervisor" in first.output and "demo.counselor.gasan" in first.output
    password = first.output.split("password for all of them:")[1].split()[0]
    assert len(password) >= 12
    second = runner.invoke(args=["demo", "seed"])
    assert "already seeded" in second.output
    assert password not in second.output
    response = app.test_client().post(
        "/api/v1/auth/login", json={"username": "demo.outreach.gasan", "password": password}
    )
    assert response.status_code == 200
    assert response.get_json()["staff"]["role"] == "outreach"


def test_the_seed_command_refuses_production(
    runner: FlaskCliRunner, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = replace(get_settings(app), env="production")
    monkeypatch.setattr(cli, "get_settings", lambda: production)
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 2
    assert "never runs in production" in result.output


@pytest.mark.parametrize("seed_value", [1, 2, 3])
def test_fictional_rrns_are_valid_with_a_legacy_check_digit(seed_value: int) -> None:
    rng = random.Random(seed_value)
    today = datetime(2026, 11, 24, tzinfo=UTC)
    parsed = [
        parse_rrn(demo.fictional_rrn(rng, today=today), today=today.date()) for _ in range(500)
    ]
    assert all(rrn.legacy_checksum_ok for rrn in parsed)
    assert {rrn.digits[6] for rrn in parsed} >= {"1", "2", "3", "4"}
