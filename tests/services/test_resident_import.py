"""Bulk registration at the service level: races with single registrations, row parsing."""

from __future__ import annotations

import gc
import io
import os
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services import resident_import, residents, staff
from welfare.crypto.passwords import make_hasher
from welfare.errors import NotFound
from welfare.models import Actor, Resident, Role

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
GASAN = "1154551000"
SYSTEM = Actor.system("test")
CSV = (
    "\ufeffName, RRN ,dong,phone,address,household_type\n"
    f"김하늘,520412-2123456,{GASAN},010-2222-3333,,single\n"
    f"이바다,491111-1234567,{GASAN},,,\n"
)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_resident_registered_between_lookup_and_insert_is_skipped_on_the_retry(
    session: Session, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    rows = resident_import.read_csv(io.StringIO(CSV.removeprefix("\ufeff")))
    real_lookup = resident_import._not_registered
    calls: list[int] = []

    def registered_meanwhile(s: Session, valid: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # our lookup ran before someone else's registration committed
            fresh = real_lookup(s, valid)
            residents.register_resident(
                s,
                actor=SYSTEM,
                name="김하늘",
                rrn="520412-2123456",
                rrn_reissued=True,  # the same number the file holds, check digit and all
                dong=GASAN,
                now=NOW,
            )
            return fresh
        return real_lookup(s, valid)

    monkeypatch.setattr(resident_import, "_not_registered", registered_meanwhile)
    before = session.scalar(select(func.count()).select_from(Resident)) or 0
    summary = resident_import.import_residents(session, actor=SYSTEM, rows=rows, now=NOW, jobs=jobs)
    assert (summary.imported, summary.already_registered, summary.bad) == (1, 1, [])
    assert session.scalar(select(func.count()).select_from(Resident)) == before + 2


def test_headers_are_read_whatever_their_case_and_spacing() -> None:
    rows = resident_import.read_csv(io.StringIO(CSV.removeprefix("\ufeff")))
    assert [r.line for r in rows] == [2, 3]
    assert rows[0].values["rrn"] == "520412-2123456"
    assert rows[1].values["phone"] is None
    assert "520412" not in repr(rows[0])


def make_member(session: Session, role: str, username: str) -> None:
    staff.create_staff(
        session,
        actor=None,
        username=username,
        role=role,
        dongs=[GASAN] if role != "admin" else [],
        password=None if role == "gateway" else "a long enough passphrase",
        hasher=make_hasher("fast"),
        now=NOW,
    )


def test_an_import_without_a_staff_member_runs_as_the_system(session: Session) -> None:
    actor = resident_import.importing_actor(session, username=None)
    assert actor.is_system
    assert actor.request_id == "import"


@pytest.mark.parametrize("role", ["counselor", "outreach", "supervisor"])
def test_a_staff_member_who_works_with_resident_data_imports_within_their_dongs(
    session: Session, role: str
) -> None:
    make_member(session, role, f"import.{role}")
    actor = resident_import.importing_actor(session, username=f"import.{role}")
    assert actor.role is Role(role)
    assert actor.staff_id is not None
    assert actor.dongs == frozenset({GASAN})


@pytest.mark.parametrize("role", ["admin", "gateway"])
def test_a_staff_member_who_does_not_work_with_resident_data_may_not_import(
    session: Session, role: str
) -> None:
    make_member(session, role, f"import.{role}")
    with pytest.raises(resident_import.NotResidentDataStaff) as refused:
        resident_import.importing_actor(session, username=f"import.{role}")
    assert refused.value.username == f"import.{role}"
    assert "does not work with resident data" in refused.value.detail


def test_importing_as_an_unknown_staff_member_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="no such staff member"):
        resident_import.importing_actor(session, username="ghost")


def test_the_collector_skips_what_existed_during_the_import_and_gets_it_back_after(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = resident_import.read_csv(io.StringIO(CSV.removeprefix("\ufeff")))
    real_insert = resident_import._insert_batch
    frozen_during: list[int] = []

    def watching(*args: Any, **kwargs: Any) -> None:
        frozen_during.append(gc.get_freeze_count())
        real_insert(*args, **kwargs)
        raise RuntimeError("the batch fails after its insert")

    monkeypatch.setattr(resident_import, "_insert_batch", watching)
    with pytest.raises(RuntimeError):
        resident_import.import_residents(session, actor=SYSTEM, rows=rows, now=NOW)
    assert frozen_during and frozen_during[0] > 0  # the rows read, the app: left alone
    assert gc.get_freeze_count() == 0  # handed back to the collector, even after an error


DOKSAN1 = "1154561000"
# Good rows, bad rows and repeats, spread over batches of two so that a repeat and the row it
# repeats are checked in different batches (by different workers when there are several).
MIXED = (
    "name,rrn,dong,phone,address,household_type\n"
    f'김하늘,520412-2123456,{GASAN},010-2222-3333,"서울 금천구 가산로 9, 101호",single\n'
    f"이바다,491111-1234567,{DOKSAN1},02-855-1234,,elderly_couple\n"
    f"최별,500230-2123456,{GASAN},,,\n"
    f"박구름,010203-3456789,{GASAN},,금천구 독산로 5,\n"
    "정산,450505-1345678,1111111111,,,\n"
    f"김하늘,5204122123456,{GASAN},,,\n"
    f"오강,600606-1234567,{GASAN},099-1,,\n"
    f"윤들,801212-1234567,{GASAN}\n"
    f"한숲,701010-2345678,{DOKSAN1},010 3333 4444,,castle\n"
    f"이바다,491111-1234567,{DOKSAN1},,,\n"
    f"서하,030303-4123456,{DOKSAN1},010-5555-6666,독산로 7,\n"
)
PARENT_PID = os.getpid()
_REAL_PREPARE = resident_import._prepare


def _sealed_in_a_worker(chunk: Any) -> Any:
    """resident_import._prepare, refusing to run in the importing process itself."""
    assert os.getpid() != PARENT_PID, "sealed in the importing process, not a worker"
    return _REAL_PREPARE(chunk)


@pytest.mark.parametrize("jobs", [1, 3])
def test_the_outcome_does_not_depend_on_the_jobs(
    session: Session, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    monkeypatch.setattr(resident_import, "_prepare", _sealed_in_a_worker)
    rows = resident_import.read_csv(io.StringIO(MIXED))
    # A dry run checks every row in this process and writes nothing: the reference.
    expected = resident_import.import_residents(
        session, actor=SYSTEM, rows=rows, now=NOW, dry_run=True, batch_size=2
    )
    assert [b.line for b in expected.bad] == [4, 6, 7, 8, 9, 10, 11]
    assert "first on line 2" in expected.bad[2].reason  # the repeat, two batches later
    summary = resident_import.import_residents(
        session, actor=SYSTEM, rows=rows, now=NOW, batch_size=2, jobs=jobs
    )
    assert summary.bad == expected.bad  # the same lines, reasons and order
    assert (summary.rows, summary.imported, summary.already_registered) == (11, 4, 0)
    seen = {
        (v.name, v.rrn_masked, v.dong, v.phone, v.address, v.household_type)
        for v in (
            residents.get_resident(session, actor=SYSTEM, resident_id=i)
            for i in summary.resident_ids
        )
    }
    assert seen == {
        (
            "김하늘",
            "520412-2******",
            GASAN,
            "010-2222-3333",
            "서울 금천구 가산로 9, 101호",
            "single",
        ),
        ("이바다", "491111-1******", DOKSAN1, "02-855-1234", None, "elderly_couple"),
        ("박구름", "010203-3******", GASAN, None, "금천구 독산로 5", None),
        ("서하", "030303-4******", DOKSAN1, "010-5555-6666", "독산로 7", None),
    }
    again = resident_import.import_residents(
        session, actor=SYSTEM, rows=rows, now=NOW, batch_size=2, jobs=jobs
    )
    assert (again.imported, again.already_registered, again.bad) == (0, 4, expected.bad)


def _worker_dies(chunk: Any) -> Any:
    os._exit(1)  # as a worker killed by the kernel would: no exception, no result


def test_an_import_whose_worker_dies_fails_instead_of_waiting_for_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resident_import, "_prepare", _worker_dies)
    rows = resident_import.read_csv(io.StringIO(MIXED))
    before = session.scalar(select(func.count()).select_from(Resident))
    with pytest.raises(BrokenProcessPool):
        resident_import.import_residents(session, actor=SYSTEM, rows=rows, now=NOW, jobs=2)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Resident)) == before
    assert gc.get_freeze_count() == 0
