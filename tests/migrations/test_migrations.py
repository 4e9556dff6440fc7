"""Migrations: one head, models match, every revision upgrades and downgrades, data loaded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from config.reference import load_dongs
from tests.support.databases import fresh_database
from welfare.database import make_engine
from welfare.migrate import alembic_config, downgrade, upgrade
from welfare.models.base import Base, UTCDateTime

# The columns a data test writes, typed as the revision under test created them.
RESIDENT_COLUMNS: dict[str, Any] = {
    "id": sa.Uuid(),
    "dong_code": sa.String(),
    "birth_year": sa.Integer(),
    "sex": sa.String(),
    "is_foreigner": sa.Boolean(),
    "status": sa.String(),
    "created_at": UTCDateTime(),
    "updated_at": UTCDateTime(),
    "version": sa.Integer(),
}
SOURCE_COLUMNS: dict[str, Any] = {
    "id": sa.Uuid(),
    "kind": sa.String(),
    "source_index": sa.LargeBinary(),
    "resident_id": sa.Uuid(),
    "dong_code": sa.String(),
    "created_at": UTCDateTime(),
}
REQUEST_COLUMNS: dict[str, Any] = {
    "id": sa.Uuid(),
    "dong_code": sa.String(),
    "care_type": sa.String(),
    "channel": sa.String(),
    "urgency": sa.String(),
    "state": sa.String(),
    "received_at": UTCDateTime(),
    "respond_by": UTCDateTime(),
    "created_at": UTCDateTime(),
    "updated_at": UTCDateTime(),
    "version": sa.Integer(),
}
FOLLOWUP_COLUMNS: dict[str, Any] = {
    "id": sa.Uuid(),
    "subject_type": sa.String(),
    "subject_id": sa.Uuid(),
    "dong_code": sa.String(),
    "program": sa.String(),
    "reason": sa.String(),
    "state": sa.String(),
    "step": sa.Integer(),
    "due_at": UTCDateTime(),
    "raised_at": UTCDateTime(),
    "evidence": sa.JSON(),
    "version": sa.Integer(),
}


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_there_is_exactly_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        command.check(alembic_config(conn))  # raises when autogenerate would emit anything


def test_covering_indexes_carry_what_the_models_declare(engine: Engine) -> None:
    """`command.check` does not compare an index's INCLUDE columns (PostgreSQL): a covering
    index the models declare must carry them in the migrated database too, or the tick's
    comparison reads the heap again (schedulers/rules/ongi.py, `candidates`)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("INCLUDE is PostgreSQL's")
    declared = {
        (table.name, index.name): list(index.dialect_options["postgresql"]["include"] or [])
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["include"]
    }
    assert declared  # the due index at least
    inspector = inspect(engine)
    for (table, name), columns in declared.items():
        found = {i["name"]: i for i in inspector.get_indexes(table)}[name]
        assert found["dialect_options"].get("postgresql_include") == columns, (table, name)


@pytest.fixture
def empty_engine(tmp_path: Path) -> Engine:
    with fresh_database(tmp_path, "steps") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_every_revision_upgrades_and_downgrades(empty_engine: Engine) -> None:
    steps = revisions()
    previous = "base"
    for revision in steps:
        upgrade(empty_engine, revision)
        downgrade(empty_engine, previous)
        upgrade(empty_engine, revision)
        previous = revision
    downgrade(empty_engine, "base")
    tables = set(inspect(empty_engine).get_table_names()) - {"alembic_version"}
    assert tables == set()


def test_the_first_revision_loads_the_ten_dongs(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name FROM dongs ORDER BY code")).all()
    assert [(r.code, r.name) for r in rows] == [(d.code, d.name) for d in load_dongs()]
    assert len(rows) == 10


def test_0006_puts_each_signal_source_in_its_residents_current_dong(empty_engine: Engine) -> None:
    """Residents who moved before 0006 left their sources' dong behind; gateways are scoped by
    it from 0006 on, so the upgrade copies the resident's dong (and pins nothing)."""
    upgrade(empty_engine, "0005")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    resident_id, source_id = uuid.uuid4(), uuid.uuid4()
    residents = sa.table(
        "residents",
        *(sa.column(name, type_) for name, type_ in RESIDENT_COLUMNS.items()),
    )
    sources = sa.table(
        "signal_sources",
        *(sa.column(name, type_) for name, type_ in SOURCE_COLUMNS.items()),
    )
    with empty_engine.begin() as conn:
        conn.execute(
            residents.insert().values(
                id=resident_id,
                dong_code="1154561000",  # moved here from 가산동
                birth_year=1940,
                sex="F",
                is_foreigner=False,
                status="active",
                created_at=at,
                updated_at=at,
                version=2,
            )
        )
        conn.execute(
            sources.insert().values(
                id=source_id,
                kind="sensor",
                source_index=b"\x01" * 32,
                resident_id=resident_id,
                dong_code="1154551000",
                created_at=at,
            )
        )
    upgrade(empty_engine, "0006")
    with empty_engine.connect() as conn:
        row = conn.execute(
            sa.select(sources.c.dong_code, sa.column("gateway_id", sa.Uuid())).select_from(sources)
        ).one()
    assert tuple(row) == ("1154561000", None)
    downgrade(empty_engine, "0005")
    assert "gateway_id" not in {
        c["name"] for c in inspect(empty_engine).get_columns("signal_sources")
    }


def test_0007_puts_care_request_alarms_back_in_their_requests_dong(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0006")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    request_id, followup_id = uuid.uuid4(), uuid.uuid4()
    requests = sa.table("care_requests", *(sa.column(n, t) for n, t in REQUEST_COLUMNS.items()))
    followups = sa.table("followups", *(sa.column(n, t) for n, t in FOLLOWUP_COLUMNS.items()))
    with empty_engine.begin() as conn:
        conn.execute(
            requests.insert().values(
                id=request_id,
                dong_code="1154551000",
                care_type="crisis",
                channel="phone",
                urgency="urgent",
                state="received",
                received_at=at,
                respond_by=at,
                created_at=at,
                updated_at=at,
                version=1,
            )
        )
        conn.execute(
            followups.insert().values(
                id=followup_id,
                subject_type="care_request",
                subject_id=request_id,
                dong_code="1154561000",  # left here by a resident's move
                program="care_center",
                reason="care_response_overdue",
                state="open",
                step=1,
                due_at=at,
                raised_at=at,
                evidence={},
                version=1,
            )
        )
    upgrade(empty_engine, "0007")
    with empty_engine.connect() as conn:
        assert conn.execute(sa.select(followups.c.dong_code)).scalar_one() == "1154551000"
    downgrade(empty_engine, "0006")
