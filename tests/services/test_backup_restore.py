"""The restore drill (docs/operations.md, "Backups"): back up, erase a resident, restore the
backup, and the erased resident stays erased, because the erasure ledger outside the database
is replayed; `welfare audit verify` then reports the restored chains as they are.

Runs on the suite's backend: SQLite through the online backup API, PostgreSQL through pg_dump
and pg_restore into a new, empty database.
"""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from config import Settings
from services import audit, residents
from services.audit.checkpoints import ship_checkpoints
from services.audit.link import link_chains
from services.erasure_ledger import FileLedger, LedgerUnavailable
from tests.support.casework import unique_rrn
from tests.support.databases import backend, fresh_database
from tests.support.staff import GASAN, make_staff
from welfare.app import create_app
from welfare.crypto.keyring import Keyring, save_keyring
from welfare.errors import Gone
from welfare.models import AuditChain, DataKey, Resident
from welfare.web import get_checkpoint_sink, get_database

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def app_for(url: str, folder: Path) -> Flask:
    """An app on `url` whose keyring, checkpoint sink and erasure ledger live in `folder`,
    outside the database (and so outside its backups)."""
    return create_app(
        Settings(
            env="test",
            data_dir=folder,
            database_url=url,
            keyring_file=folder / "keyring.json",
            keyring_file_is_default=False,
            secret_key="test-secret-key-that-is-long-enough-0123456789",
            argon2_profile="fast",
            audit_checkpoint_file=folder / "audit-checkpoints.jsonl",
            erasure_ledger=folder / "erasure-ledger.jsonl",
        )
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    save_keyring(Keyring.generate(for_development=False), tmp_path / "keyring.json")
    return tmp_path


@pytest.fixture
def live(folder: Path) -> Iterator[Flask]:
    with fresh_database(folder, "backup_live") as url:
        app = app_for(url, folder)
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        yield app
        get_database(app).dispose()


def register(app: Flask, name: str) -> tuple[uuid.UUID, bytes]:
    counselor = make_staff(app, "counselor", (GASAN,)).actor()
    with get_database(app).new_session() as s:
        rid = residents.register_resident(
            s, actor=counselor, name=name, rrn=unique_rrn(), dong=GASAN, now=NOW
        ).id
        wrapped = s.get_one(DataKey, rid).wrapped
    assert wrapped is not None
    return rid, bytes(wrapped)


def checkpoint(app: Flask) -> None:
    sink = get_checkpoint_sink(app)
    assert sink is not None
    with get_database(app).transaction() as s:
        link_chains(s)  # as a scheduler tick does: the audit_link job, then audit_checkpoint
        ship_checkpoints(s, sink)


def test_a_restored_backup_keeps_the_residents_erased_after_it_and_verify_says_what_it_lost(
    live: Flask, folder: Path
) -> None:
    kept, _ = register(live, "남는이")
    erased, erased_key = register(live, "지울이")
    checkpoint(live)
    copy = folder / "backups" / "welfare.backup"
    copy.parent.mkdir()

    created = live.test_cli_runner().invoke(args=["backup", "create", str(copy)])

    assert created.exit_code == 0, created.output
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert "the keyring is not in the backup" in created.output
    assert b'"audit_key"' not in copy.read_bytes()  # the keyring never goes into a backup
    if backend() == "sqlite":
        assert erased_key in copy.read_bytes()  # the copy really holds the old data key

    supervisor = make_staff(live, "supervisor", (GASAN,)).actor()
    with get_database(live).new_session() as s:
        residents.erase_resident(s, actor=supervisor, resident_id=erased, reason="요청", now=NOW)
    checkpoint(live)  # the sink now knows a longer chain than the backup's

    with ExitStack() as stack:
        restored = restore(live, folder, copy, stack)
        check_restored(restored, kept, erased, erased_key)


def check_restored(restored: Flask, kept: uuid.UUID, erased: uuid.UUID, erased_key: bytes) -> None:

    db = get_database(restored)
    reader = make_staff(restored, "counselor", (GASAN,)).actor()
    with db.new_session() as s:
        row = s.get_one(Resident, erased)
        assert row.status == "erased" and row.rrn_enc is None and row.name_index is None
        assert s.get_one(DataKey, erased).wrapped is None
        with pytest.raises(Gone):
            residents.get_resident(s, actor=reader, resident_id=erased)
        assert residents.get_resident(s, actor=reader, resident_id=kept).name == "남는이"
    if backend() == "sqlite":
        database = Path(db.url.removeprefix("sqlite:///"))
        wal = database.with_name(database.name + "-wal")
        on_disk = database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert erased_key not in on_disk

    # The chains of the copy are whole in themselves ...
    with db.snapshot() as s:
        for chain in AuditChain:
            assert audit.verify_chain(s, chain).ok
    # ... and verify says plainly that records checkpointed after the backup are gone.
    verified = restored.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 1, verified.output
    access = next(line for line in verified.output.splitlines() if line.startswith("access"))
    assert "BROKEN" in access
    assert "removed" in access or "rebuilt" in access


def restore(live: Flask, folder: Path, copy: Path, stack: ExitStack) -> Flask:
    """Restore as docs/operations.md says: SQLite over the stopped service's own file, PostgreSQL
    into a new, empty database."""
    if backend() == "sqlite":
        result = live.test_cli_runner().invoke(args=["backup", "restore", str(copy), "--yes"])
        app = live
    else:
        app = app_for(stack.enter_context(fresh_database(folder, "backup_target")), folder)
        stack.callback(get_database(app).dispose)
        result = app.test_cli_runner().invoke(args=["backup", "restore", str(copy)])
    assert result.exit_code == 0, result.output
    assert "1 erased again" in result.output
    return app


def test_restoring_sqlite_needs_the_operator_to_confirm_the_service_is_stopped(
    live: Flask, folder: Path
) -> None:
    if backend() != "sqlite":
        pytest.skip("the --yes confirmation is SQLite's (PostgreSQL restores into a new database)")
    copy = folder / "copy.db"
    assert live.test_cli_runner().invoke(args=["backup", "create", str(copy)]).exit_code == 0
    result = live.test_cli_runner().invoke(args=["backup", "restore", str(copy)])
    assert result.exit_code == 2 and "stop the service" in result.output


def test_a_postgresql_restore_refuses_a_database_that_is_not_empty(
    live: Flask, folder: Path
) -> None:
    if backend() != "postgresql":
        pytest.skip("SQLite restores over its own file")
    copy = folder / "copy.dump"
    assert live.test_cli_runner().invoke(args=["backup", "create", str(copy)]).exit_code == 0
    result = live.test_cli_runner().invoke(args=["backup", "restore", str(copy)])
    assert result.exit_code == 2 and "not empty" in result.output


def test_an_erasure_whose_ledger_cannot_be_written_is_refused_and_changes_nothing(
    live: Flask, folder: Path
) -> None:
    rid, wrapped = register(live, "못지울이")
    blocker = folder / "not-a-directory"
    blocker.write_text("")
    db = get_database(live)
    db.set_info("welfare.erasure_ledger", FileLedger(blocker / "ledger.jsonl"))
    supervisor = make_staff(live, "supervisor", (GASAN,)).actor()
    with db.new_session() as s, pytest.raises(LedgerUnavailable) as refused:
        residents.erase_resident(s, actor=supervisor, resident_id=rid, reason="요청", now=NOW)
    assert refused.value.status == 503
    with db.new_session() as s:
        assert s.get_one(Resident, rid).status == "active"
        assert bytes(s.get_one(DataKey, rid).wrapped or b"") == wrapped


def test_a_forged_ledger_line_erases_nobody_and_is_reported(live: Flask, folder: Path) -> None:
    rid, _ = register(live, "위조대상")
    ledger = folder / "erasure-ledger.jsonl"
    forged = {"kind": "resident", "resident_id": str(rid), "erased_at": NOW.isoformat()}
    ledger.write_text(json.dumps(forged | {"mac": "00" * 32}) + "\n")

    result = live.test_cli_runner().invoke(args=["backup", "replay-erasures"])

    assert result.exit_code == 1
    assert "0 erasures" in result.output and "not a properly signed erasure" in result.output
    with get_database(live).new_session() as s:
        assert s.get_one(Resident, rid).status == "active"
