"""Erasure reaches the disk on SQLite, and the files that hold resident data are the service's
own: secure_delete on every connection, the WAL checkpointed and truncated after an erasure,
the database and keyring 0600, the data dir 0700 (docs/security-model.md "Erasure on disk").

These tests use a SQLite file of their own whichever backend the suite runs on: what they check
is SQLite's. PostgreSQL keeps dead tuples until VACUUM (documented, not testable as bytes here).
"""

from __future__ import annotations

import os
import sqlite3
import sqlite3.dbapi2
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from config import Settings
from services import residents
from tests.support.staff import GASAN, make_staff
from welfare.app import create_app
from welfare.database import make_engine
from welfare.migrate import upgrade
from welfare.models import DataKey, Resident
from welfare.web import get_database

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PERSON = {
    "name": "소멸희",
    "rrn": "480303-2345675",
    "phone": "010-5555-0303",
    "address": "서울특별시 금천구 시흥대로 100",
    "notes": "파기 대상 메모",
}


@pytest.fixture
def upstream_sqlite_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new SQLite connection starts with secure_delete off, as upstream SQLite builds do
    (Debian's turns it on at compile time): only our own setting can turn it on."""
    connect = sqlite3.connect

    def connect_with_upstream_defaults(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        connection.execute("PRAGMA secure_delete=OFF")
        return connection

    # SQLAlchemy connects through sqlite3.dbapi2, a module of its own.
    for module in (sqlite3, sqlite3.dbapi2):
        monkeypatch.setattr(module, "connect", connect_with_upstream_defaults)


@pytest.fixture
def umask() -> Iterator[None]:
    """The common default umask, under which SQLite alone would create world-readable files."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def embedded_app(data_dir: Path) -> Flask:
    """The embedded mode's app: its own SQLite file and generated keyring in `data_dir`."""
    return create_app(
        Settings(
            env="test",
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'welfare.db'}",
            keyring_file=data_dir / "keyring.json",
            keyring_file_is_default=False,
            secret_key="test-secret-key-that-is-long-enough-0123456789",
            argon2_profile="fast",
        )
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def on_disk(database: Path) -> bytes:
    """The raw bytes of the database file and of its WAL (if there is one)."""
    wal = database.with_name(database.name + "-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_every_new_connection_has_secure_delete_on_whatever_the_builds_default(
    tmp_path: Path, upstream_sqlite_defaults: None
) -> None:
    assert sqlite3.connect(":memory:").execute("PRAGMA secure_delete").fetchone() == (0,)
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        for _ in range(2):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
            engine.dispose()  # the next connection is a new one
    finally:
        engine.dispose()


def test_after_erasure_the_erased_ciphertexts_are_gone_from_the_database_file_and_its_wal(
    tmp_path: Path, upstream_sqlite_defaults: None
) -> None:
    data_dir = tmp_path / "instance"
    app = embedded_app(data_dir)
    db = get_database(app)
    database = data_dir / "welfare.db"
    try:
        upgrade(db.engine)
        counselor = make_staff(app, "counselor", (GASAN,)).actor()
        supervisor = make_staff(app, "supervisor", (GASAN,)).actor()
        with db.new_session() as s:
            rid = residents.register_resident(s, actor=counselor, dong=GASAN, now=NOW, **PERSON).id
        with db.new_session() as s:
            row = s.get_one(Resident, rid)
            sealed = {
                **{f: getattr(row, f"{f}_enc") for f in ("name", "rrn", "phone", "address")},
                "notes": row.notes_enc,
                "rrn_index": row.rrn_index,
                "wrapped_data_key": s.get_one(DataKey, rid).wrapped,
            }
        before = on_disk(database)
        for name, value in sealed.items():
            assert value and bytes(value) in before, name  # the test can see them at all

        with db.new_session() as s:
            residents.erase_resident(
                s, actor=supervisor, resident_id=rid, reason="정보주체 요청", now=NOW
            )

        wal = database.with_name("welfare.db-wal")
        assert not wal.exists() or wal.stat().st_size == 0  # truncated, not just reset
        after = on_disk(database)
        left = [name for name, value in sealed.items() if bytes(value) in after]
        assert left == []
    finally:
        db.dispose()


def test_the_database_keyring_and_data_dir_are_created_for_the_service_account_only(
    tmp_path: Path, umask: None
) -> None:
    data_dir = tmp_path / "instance"
    app = embedded_app(data_dir)
    db = get_database(app)
    try:
        upgrade(db.engine)  # writes, so the WAL and shared-memory files exist too
        assert mode(data_dir) == 0o700
        assert mode(data_dir / "keyring.json") == 0o600
        for name in ("welfare.db", "welfare.db-wal", "welfare.db-shm"):
            assert mode(data_dir / name) == 0o600, name
    finally:
        db.dispose()
