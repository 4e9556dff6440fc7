"""Bulk registration at the service level: races with single registrations, row parsing."""

from __future__ import annotations

import gc
import io
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


def test_a_resident_registered_between_lookup_and_insert_is_skipped_on_the_retry(
    session: Session, monkeypatch: pytest.MonkeyPatch
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
    summary = resident_import.import_residents(session, actor=SYSTEM, rows=rows, now=NOW)
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
