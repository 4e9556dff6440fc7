"""Migrations: one head, models match, every revision upgrades and downgrades, data loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from config.reference import load_dongs
from tests.support.databases import fresh_database
from welfare.database import make_engine
from welfare.migrate import alembic_config, downgrade, upgrade


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_there_is_exactly_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        command.check(alembic_config(conn))  # raises when autogenerate would emit anything


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
