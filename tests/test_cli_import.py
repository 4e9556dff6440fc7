"""`welfare residents import`: bad rows by line and reason, known residents skipped, dry runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from tests.support.staff import DOKSAN1, GASAN
from welfare.database import Database
from welfare.models import AuditEvent, Resident

HEADER = "name,rrn,dong,phone,address,household_type"
GOOD = [
    f'김하늘,520412-2123456,{GASAN},010-2222-3333,"서울특별시 금천구 가산로 9, 101동 202호",single',
    f"이바다,491111-1234567,{DOKSAN1},02-855-1234,,elderly_couple",
    f"박구름,010203-3456789,{GASAN},,,",
]
BAD = [
    f"최별,500230-2123456,{GASAN},,,",  # impossible date
    "정산,450505-1345678,1111111111,,,",  # unknown dong
    f"오강,600606-1234567,{GASAN},099-1,,",  # bad phone
    f"한숲,701010-2345678,{GASAN},,,castle",  # unknown household type
    f"윤들,801212-1234567,{GASAN}",  # missing fields
]
PERSONAL = [
    "김하늘",
    "최별",
    "정산",
    "오강",
    "한숲",
    "윤들",
    "500230",
    "2123456",
    "099-1",
    "castle",
]


def write_csv(tmp_path: Path, lines: list[str], *, bom: bool = False, name: str = "in.csv") -> str:
    path = tmp_path / name
    path.write_text(
        "\n".join([HEADER, *lines]) + "\n", encoding="utf-8-sig" if bom else "utf-8", newline=""
    )
    return str(path)


# One process, and workers sealing while the command writes: the same outcome.
JOBS = pytest.mark.parametrize("jobs", ["1", "3"])


def import_file(runner: FlaskCliRunner, path: str, *args: str) -> Any:
    return runner.invoke(args=["residents", "import", path, *args])


def count(db: Database, model: Any) -> int:
    with db.new_session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def summary(output: str) -> tuple[int, int, int]:
    match = re.search(
        r"import(?:ed)? (\d+), skipped as already registered (\d+), bad rows (\d+)", output
    )
    assert match, output
    imported, known, bad = match.groups()
    return int(imported), int(known), int(bad)


@JOBS
def test_good_rows_are_imported_and_bad_rows_reported_by_line_without_their_data(
    runner: FlaskCliRunner, db: Database, tmp_path: Path, jobs: str
) -> None:
    path = write_csv(tmp_path, [GOOD[0], BAD[0], GOOD[1], *BAD[1:], GOOD[2]], bom=True)
    before = count(db, Resident)
    result = import_file(runner, path, "--jobs", jobs)
    assert result.exit_code == 1  # some rows were bad
    assert summary(result.output) == (3, 0, 5)
    assert count(db, Resident) == before + 3
    reported = dict(re.findall(r"^line (\d+): (.*)$", result.output, re.MULTILINE))
    assert set(reported) == {"3", "5", "6", "7", "8"}
    assert "생년월일" in reported["3"] or "date" in reported["3"]
    assert "unknown dong code" in reported["5"]
    assert reported["6"].startswith("phone:")
    assert "household type" in reported["7"]
    assert "missing fields" in reported["8"]
    for value in PERSONAL:
        assert value not in result.output, value


@JOBS
def test_rerunning_the_same_file_skips_every_resident(
    runner: FlaskCliRunner, db: Database, tmp_path: Path, jobs: str
) -> None:
    path = write_csv(tmp_path, GOOD)
    assert import_file(runner, path, "--jobs", jobs).exit_code == 0
    before = count(db, Resident)
    again = import_file(runner, path, "--jobs", jobs)
    assert again.exit_code == 0, again.output
    assert summary(again.output) == (0, 3, 0)
    assert count(db, Resident) == before


def test_a_dry_run_validates_and_reports_but_writes_nothing(
    runner: FlaskCliRunner, db: Database, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, [*GOOD, BAD[0]])
    residents_before, events_before = count(db, Resident), count(db, AuditEvent)
    result = import_file(runner, path, "--dry-run")
    assert summary(result.output) == (3, 0, 1)
    assert "dry run" in result.output and "nothing was written" in result.output
    assert "line 5:" in result.output
    assert (count(db, Resident), count(db, AuditEvent)) == (residents_before, events_before)


@JOBS
def test_a_duplicate_inside_the_file_is_reported_with_the_line_it_repeats(
    runner: FlaskCliRunner, tmp_path: Path, jobs: str
) -> None:
    same_person_spelled_differently = f"김하늘,5204122123456,{GASAN},,,"
    path = write_csv(tmp_path, [GOOD[0], GOOD[1], same_person_spelled_differently])
    result = import_file(runner, path, "--jobs", jobs)
    assert summary(result.output) == (2, 0, 1)
    assert "line 4: rrn:" in result.output
    assert "first on line 2" in result.output


@JOBS
def test_one_access_record_per_batch_names_the_residents_it_created(
    runner: FlaskCliRunner, db: Database, tmp_path: Path, jobs: str
) -> None:
    path = write_csv(tmp_path, GOOD)
    result = import_file(runner, path, "--batch", "2", "--jobs", jobs)
    assert result.exit_code == 0, result.output
    with db.new_session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "create")))
        created = {str(i) for i in s.scalars(select(Resident.id))}
    assert [len(e.resident_ids) for e in events] == [2, 1]
    assert {e.actor_role for e in events} == {"system"}
    assert {r for e in events for r in e.resident_ids} <= created


@JOBS
def test_importing_as_a_staff_member_keeps_to_their_dongs(
    runner: FlaskCliRunner, tmp_path: Path, jobs: str
) -> None:
    made = runner.invoke(
        args=[
            *("staff", "create", "import.gasan", "--role", "counselor"),
            *("--dong", GASAN, "--password-stdin"),
        ],
        input="a long enough passphrase\n",
    )
    assert made.exit_code == 0, made.output
    result = import_file(runner, write_csv(tmp_path, GOOD), "--as", "import.gasan", "--jobs", jobs)
    assert summary(result.output) == (2, 0, 1)
    assert "line 3: dong:" in result.output and "scope" in result.output


@pytest.mark.parametrize("role", ["admin", "gateway"])
def test_importing_as_staff_who_do_not_work_with_resident_data_is_refused(
    runner: FlaskCliRunner, db: Database, tmp_path: Path, role: str
) -> None:
    made = runner.invoke(
        args=["staff", "create", f"import.{role}", "--role", role, "--password-stdin"],
        input="a long enough passphrase\n",
    )
    assert made.exit_code == 0, made.output
    before = count(db, Resident)
    result = import_file(runner, write_csv(tmp_path, GOOD), "--as", f"import.{role}")
    assert result.exit_code == 2
    assert f"welfare: import.{role} does not work with resident data" in result.output
    assert "importing residents" not in result.output  # refused before any row
    assert count(db, Resident) == before


def test_importing_as_an_unknown_staff_member_fails_clearly(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = import_file(runner, write_csv(tmp_path, GOOD), "--as", "ghost")
    assert result.exit_code == 1
    assert "no such staff member" in result.output


def test_a_file_without_the_expected_columns_is_refused_before_any_row(
    runner: FlaskCliRunner, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "short.csv"
    path.write_text("name,rrn,phone\n김하늘,520412-2123456,\n", encoding="utf-8")
    before = count(db, Resident)
    result = import_file(runner, str(path))
    assert result.exit_code == 2
    assert "missing columns: dong, address, household_type" in result.output
    assert count(db, Resident) == before


def test_a_file_that_is_not_utf8_is_refused_clearly(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "euckr.csv"
    path.write_bytes((HEADER + "\n" + GOOD[0] + "\n").encode("euc-kr"))
    result = import_file(runner, str(path))
    assert result.exit_code == 2
    assert "not UTF-8" in result.output
