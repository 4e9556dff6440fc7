"""A throw-away database is new and empty, and nothing of it is left once its block ends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config.settings import with_psycopg_driver
from tests.support.databases import postgres_admin_url
from welfare.scratch import scratch_database


def test_a_sqlite_scratch_database_in_a_given_folder_is_a_new_file_there(tmp_path: Path) -> None:
    with (
        scratch_database(None, label="unit", folder=tmp_path) as first,
        scratch_database(None, label="unit", folder=tmp_path) as second,
    ):
        assert first != second
        for url in (first, second):
            path = Path(make_url(url).database or "")
            assert path.parent == tmp_path
            assert path.name.startswith("unit-")
            assert not path.exists()  # created by the first connection, not before


def test_a_sqlite_scratch_database_without_a_folder_leaves_no_directory_behind() -> None:
    with scratch_database(None, label="unit") as url:
        path = Path(make_url(url).database or "")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        engine.dispose()
        assert path.is_file()
    assert not path.parent.exists()


def test_a_label_that_could_break_out_of_the_database_name_is_refused() -> None:
    refused = scratch_database(None, label='x"; DROP DATABASE postgres; --')
    with pytest.raises(ValueError, match="lower-case letters"):
        refused.__enter__()  # a generator context manager runs its checks on entry


@pytest.mark.postgres_only
def test_a_postgres_scratch_database_is_created_and_dropped_at_the_end() -> None:
    server = postgres_admin_url()
    assert server is not None
    with scratch_database(server, label="unit") as url:
        name = make_url(url).database
        assert make_url(url).drivername == "postgresql+psycopg"
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == name
        engine.dispose()
    admin = create_engine(with_psycopg_driver(server))
    with admin.connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar_one()
    admin.dispose()
    assert found == 0
