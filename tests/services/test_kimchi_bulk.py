"""Allocating many households at once: by criteria in priority order until the stock runs out,
and `welfare kimchi import` from an agency's spreadsheet, each skipped line with its reason."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from services import kimchi, ongi, residents
from tests.support.casework import unique_rrn
from tests.support.staff import DOKSAN1, GASAN, make_staff
from welfare.database import Database
from welfare.errors import InvalidInput
from welfare.models import Actor, AuditEvent, KimchiAllocation, Role

NOW = datetime.now(UTC)
TODAY = NOW.date()


@pytest.fixture
def counselor(app: Flask) -> Actor:
    return make_staff(app, "counselor", (GASAN, DOKSAN1)).actor()


@pytest.fixture
def supervisor(app: Flask) -> Actor:
    return make_staff(app, "supervisor", (GASAN, DOKSAN1)).actor()


def new_campaign(db: Database, supervisor: Actor, box_count: int) -> uuid.UUID:
    with db.new_session() as s:
        return kimchi.create_campaign(
            s,
            actor=supervisor,
            name="일괄 배분",
            starts_on=date(TODAY.year, 1, 1),
            ends_on=date(TODAY.year, 12, 31),
            box_count=box_count,
            now=NOW,
        ).id


def register(
    db: Database,
    actor: Actor,
    *,
    address: str | None,
    dong: str = GASAN,
    birth: str = "50",
    household_type: str | None = None,
    risk: str | None = None,
) -> tuple[uuid.UUID, str]:
    rrn = unique_rrn()
    with db.new_session() as s:
        resident_id = residents.register_resident(
            s,
            actor=actor,
            name="배분대상",
            rrn=rrn,
            dong=dong,
            address=address,
            household_type=household_type,
            now=NOW,
        ).id
        if risk is not None:
            ongi.enroll(s, actor=actor, resident_id=resident_id, risk_level=risk, now=NOW)
    return resident_id, rrn


def allocated_residents(db: Database, campaign_id: uuid.UUID) -> set[uuid.UUID]:
    with db.new_session() as s:
        return set(
            s.scalars(
                select(KimchiAllocation.resident_id).where(
                    KimchiAllocation.campaign_id == campaign_id
                )
            )
        )


def test_criteria_allocate_the_highest_risk_first_until_the_stock_runs_out(
    db: Database, counselor: Actor, supervisor: Actor
) -> None:
    campaign_id = new_campaign(db, supervisor, box_count=3)
    high, _ = register(db, counselor, address="가산로 101", risk="high")
    medium, _ = register(db, counselor, address="가산로 102", risk="medium")
    low, _ = register(db, counselor, address="가산로 103", risk="low")
    register(db, counselor, address="가산로 104")
    with db.new_session() as s:
        result = kimchi.allocate_by_criteria(
            s, actor=counselor, campaign_id=campaign_id, agency="금천구청", now=NOW
        )
    assert (result.allocated, result.remaining_stock, result.stock_exhausted) == (3, 0, True)
    assert allocated_residents(db, campaign_id) == {high, medium, low}


def test_criteria_give_one_box_per_household_and_skip_households_already_served(
    db: Database, counselor: Actor, supervisor: Actor
) -> None:
    campaign_id = new_campaign(db, supervisor, box_count=10)
    one, _ = register(db, counselor, address="서울특별시 금천구 가산로 200, 1호", risk="high")
    register(db, counselor, address="서울 금천구 가산로 200 1호", risk="high")  # same door
    served, _ = register(db, counselor, address="가산로 201")
    other, _ = register(db, counselor, address="가산로 202")
    with db.new_session() as s:
        kimchi.allocate(
            s,
            actor=counselor,
            campaign_id=campaign_id,
            resident_id=served,
            agency="복지관",
            now=NOW,
        )
    with db.new_session() as s:
        result = kimchi.allocate_by_criteria(
            s, actor=counselor, campaign_id=campaign_id, agency="금천구청", now=NOW
        )
    assert (result.allocated, result.same_household) == (2, 1)
    assert allocated_residents(db, campaign_id) == {one, served, other}
    with db.new_session() as s:
        again = kimchi.allocate_by_criteria(
            s, actor=counselor, campaign_id=campaign_id, agency="금천구청", now=NOW
        )
    assert again.allocated == 0


def test_criteria_filter_by_dong_risk_household_type_and_an_earlier_campaign(
    db: Database, counselor: Actor, supervisor: Actor
) -> None:
    earlier = new_campaign(db, supervisor, box_count=10)
    campaign_id = new_campaign(db, supervisor, box_count=10)
    single_high, _ = register(
        db, counselor, address="가산로 301", household_type="single", risk="high"
    )
    register(db, counselor, address="가산로 302", household_type="elderly_couple", risk="high")
    register(
        db, counselor, address="독산로 303", dong=DOKSAN1, household_type="single", risk="high"
    )
    register(db, counselor, address="가산로 304", household_type="single", risk="low")
    delivered, _ = register(
        db, counselor, address="가산로 305", household_type="single", risk="high"
    )
    with db.new_session() as s:
        before = kimchi.allocate(
            s,
            actor=counselor,
            campaign_id=earlier,
            resident_id=delivered,
            agency="복지관",
            now=NOW,
        )
    with db.new_session() as s:
        kimchi.record_attempt(
            s,
            actor=counselor,
            allocation_id=before.id,
            outcome="left_at_door",
            occurred_at=NOW,
            now=NOW,
        )
    with db.new_session() as s:
        dry = kimchi.allocate_by_criteria(
            s,
            actor=counselor,
            campaign_id=campaign_id,
            agency="금천구청",
            now=NOW,
            dongs=[GASAN],
            risk_levels=["high"],
            household_types=["single"],
            not_served_in=earlier,
            dry_run=True,
        )
    assert (dry.allocated, dry.candidates) == (1, 1)
    assert allocated_residents(db, campaign_id) == set()
    with db.new_session() as s:
        kimchi.allocate_by_criteria(
            s,
            actor=counselor,
            campaign_id=campaign_id,
            agency="금천구청",
            now=NOW,
            dongs=[GASAN],
            risk_levels=["high"],
            household_types=["single"],
            not_served_in=earlier,
        )
    assert allocated_residents(db, campaign_id) == {single_high}


def test_criteria_reach_only_the_callers_dongs_and_leave_access_records(
    app: Flask, db: Database, counselor: Actor, supervisor: Actor
) -> None:
    campaign_id = new_campaign(db, supervisor, box_count=10)
    mine, _ = register(db, counselor, address="가산로 401")
    register(db, counselor, address="독산로 402", dong=DOKSAN1)
    gasan_only = make_staff(app, "counselor", (GASAN,)).actor()
    with db.new_session() as s:
        result = kimchi.allocate_by_criteria(
            s, actor=gasan_only, campaign_id=campaign_id, agency="가산동", now=NOW
        )
    assert result.allocated == 1
    assert allocated_residents(db, campaign_id) == {mine}
    with db.new_session() as s:
        record = s.scalars(
            select(AuditEvent).where(
                AuditEvent.staff_id == gasan_only.staff_id, AuditEvent.action == "create"
            )
        ).one()
        assert record.resident_ids == [str(mine)]
    with db.new_session() as s, pytest.raises(InvalidInput):
        kimchi.allocate_by_criteria(
            s,
            actor=gasan_only,
            campaign_id=campaign_id,
            agency="가산동",
            now=NOW,
            dongs=[DOKSAN1],
        )


def write(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "agency.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return str(path)


def run_import(runner: FlaskCliRunner, campaign_id: uuid.UUID, path: str, *extra: str) -> Any:
    return runner.invoke(
        args=["kimchi", "import", str(campaign_id), path, "--agency", "가산종합사회복지관", *extra]
    )


def test_the_import_reports_each_skipped_line_and_a_rerun_changes_nothing(
    db: Database, runner: FlaskCliRunner, tmp_path: Path, counselor: Actor, supervisor: Actor
) -> None:
    campaign_id = new_campaign(db, supervisor, box_count=3)
    first, rrn_first = register(db, counselor, address="가산로 501")
    _spouse, rrn_spouse = register(db, counselor, address="서울 금천구 가산로 501")
    taken, rrn_taken = register(db, counselor, address="가산로 502")
    _late, rrn_late = register(db, counselor, address="가산로 503")
    _later, rrn_later = register(db, counselor, address="가산로 504")
    with db.new_session() as s:
        kimchi.allocate(
            s,
            actor=counselor,
            campaign_id=campaign_id,
            resident_id=taken,
            agency="독산복지관",
            now=NOW,
        )
    path = write(
        tmp_path,
        [
            "이름,rrn,비고",
            f"가,{rrn_first},",
            f"나,{rrn_spouse},",
            f"다,{rrn_taken},",
            f"라,{unique_rrn()},",
            "마,not-an-rrn,",
            f"바,{rrn_late},",
            f"사,{rrn_later},",
        ],
    )
    dry = run_import(runner, campaign_id, path, "--dry-run")
    assert dry.exit_code == 1, dry.output
    assert "nothing was written" in dry.output
    assert allocated_residents(db, campaign_id) == {taken}
    result = run_import(runner, campaign_id, path)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "line 3: 이미 배분된 가구입니다: 가산종합사회복지관" in out
    assert "line 4: 이미 배분된 가구입니다: 독산복지관" in out
    assert "line 5: 알 수 없는 주민입니다 (unknown resident)" in out
    assert "line 6: rrn:" in out
    assert "line 8: 남은 김치 상자가 없습니다 (out of stock)" in out
    assert "allocated 2, skipped 5 (of 7 lines)" in out
    assert rrn_first not in out and "배분대상" not in out
    with db.new_session() as s:
        assert s.scalar(select(func.count()).select_from(KimchiAllocation)) == 3
    again = run_import(runner, campaign_id, path)
    assert "allocated 0," in again.output
    assert len(allocated_residents(db, campaign_id)) == 3
    assert first in allocated_residents(db, campaign_id)


def test_an_import_file_without_an_rrn_column_is_refused_whole(
    db: Database, runner: FlaskCliRunner, tmp_path: Path, supervisor: Actor
) -> None:
    campaign_id = new_campaign(db, supervisor, box_count=3)
    result = run_import(runner, campaign_id, write(tmp_path, ["이름,전화", "가,010"]))
    assert result.exit_code == 2 and "rrn" in result.output


def test_an_import_runs_as_staff_only_when_they_work_with_residents(
    app: Flask, db: Database, runner: FlaskCliRunner, tmp_path: Path, supervisor: Actor
) -> None:
    campaign_id = new_campaign(db, supervisor, box_count=3)
    admin = make_staff(app, "admin", ())
    path = write(tmp_path, ["rrn", unique_rrn()])
    result = run_import(runner, campaign_id, path, "--as", admin.username)
    assert result.exit_code == 2 and "does not work with resident data" in result.output
    assert Role.ADMIN.value == admin.role
