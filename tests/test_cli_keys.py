"""`welfare keys`: rotation without downtime, resumable rewrap, retirement only when unused."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Connection, select

from config import Settings
from services import key_retirement, keys
from tests.support.casework import with_check_digit
from tests.support.staff import GASAN
from welfare.app import create_app
from welfare.cli import keys as keys_cli
from welfare.crypto.cipher import DecryptionError
from welfare.crypto.envelope import WrappedKey, unwrap_data_key
from welfare.crypto.keyring import Keyring, KeyState, load_keyring, save_keyring
from welfare.database import Database
from welfare.models import DataKey, SystemMarker
from welfare.web import get_database, get_keyring


@pytest.fixture
def keyring_file(tmp_path: Path, keyring: Keyring) -> Path:
    path = tmp_path / "keyring.json"
    save_keyring(keyring, path)
    return path


@pytest.fixture
def app(settings: Settings, keyring_file: Path, connection: Connection) -> Iterator[Flask]:
    """The suite's app, but reading its keyring from a file the commands may rewrite."""
    app = create_app(replace(settings, keyring_file=keyring_file))
    get_database(app).bind_to(connection)
    yield app
    get_database(app).dispose()


@pytest.fixture
def counselor(login_as: Callable[..., FlaskClient]) -> FlaskClient:
    return login_as("counselor", dongs=(GASAN,))


def register(client: FlaskClient, n: int) -> str:
    response = client.post(
        "/api/v1/residents",
        json={"name": f"주민{n}", "rrn": with_check_digit(f"5001{n + 1:02d}234567"), "dong": GASAN},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def wrapping_keys(db: Database, ids: list[str]) -> dict[str, str | None]:
    with db.new_session() as s:
        rows = s.execute(
            select(DataKey.subject_id, DataKey.master_key_id).where(
                DataKey.subject_id.in_([uuid.UUID(i) for i in ids])
            )
        )
        return {str(subject): key_id for subject, key_id in rows}


def reads(client: FlaskClient, resident_id: str, n: int) -> bool:
    response = client.get(f"/api/v1/residents/{resident_id}")
    return response.status_code == 200 and response.get_json()["name"] == f"주민{n}"


def invoke(runner: FlaskCliRunner, *args: str) -> Any:
    return runner.invoke(args=["keys", *args])


def test_residents_read_throughout_a_rotation_and_new_ones_use_the_new_key(
    app: Flask, db: Database, runner: FlaskCliRunner, counselor: FlaskClient, keyring_file: Path
) -> None:
    ids = [register(counselor, n) for n in range(5)]
    old = get_keyring(app).active.id

    rotated = invoke(runner, "rotate")
    assert rotated.exit_code == 0, rotated.output
    new = load_keyring(keyring_file).active.id
    assert new != old
    assert f"new active master key: {new}" in rotated.output
    assert "keys rewrap" in rotated.output and "restart" in rotated.output
    assert get_keyring(app).active.id == new  # the process uses the file it just wrote
    assert all(reads(counselor, r, n) for n, r in enumerate(ids))

    one_batch = invoke(runner, "rewrap", "--batch", "2", "--max-batches", "1")
    assert one_batch.exit_code == 0, one_batch.output
    assert sorted(wrapping_keys(db, ids).values()) == sorted([new, new, old, old, old])
    assert all(reads(counselor, r, n) for n, r in enumerate(ids))  # mid-rewrap, all still read
    newcomer = register(counselor, 7)
    assert wrapping_keys(db, [newcomer]) == {newcomer: new}

    rest = invoke(runner, "rewrap", "--batch", "2")
    assert rest.exit_code == 0, rest.output
    assert "rewrapped 3 data keys" in rest.output
    assert set(wrapping_keys(db, ids).values()) == {new}
    assert all(reads(counselor, r, n) for n, r in enumerate(ids))
    again = invoke(runner, "rewrap")
    assert "rewrapped 0 data keys" in again.output  # idempotent: nothing left to do


def test_a_rewrap_killed_after_a_batch_resumes_and_finishes(
    app: Flask,
    db: Database,
    runner: FlaskCliRunner,
    counselor: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [register(counselor, n) for n in range(5)]
    old = get_keyring(app).active.id
    assert invoke(runner, "rotate").exit_code == 0
    new = get_keyring(app).active.id
    real_rewrap = keys.rewrap
    calls = iter(range(100))

    def dies_on_the_third_key(*args: Any) -> Any:
        if next(calls) == 2:
            raise RuntimeError("killed")
        return real_rewrap(*args)

    monkeypatch.setattr(keys, "rewrap", dies_on_the_third_key)
    killed = invoke(runner, "rewrap", "--batch", "2")
    assert killed.exit_code == 1
    assert "interrupted" in killed.output and "again" in killed.output
    # The first batch committed; the one that died left nothing half done.
    assert sorted(wrapping_keys(db, ids).values()) == sorted([new, new, old, old, old])

    monkeypatch.setattr(keys, "rewrap", real_rewrap)
    resumed = invoke(runner, "rewrap", "--batch", "2")
    assert resumed.exit_code == 0, resumed.output
    assert "rewrapped 3 data keys" in resumed.output
    assert set(wrapping_keys(db, ids).values()) == {new}
    assert all(reads(counselor, r, n) for n, r in enumerate(ids))


def test_retiring_a_key_is_refused_while_data_keys_depend_on_it_and_accepted_after_rewrap(
    app: Flask, runner: FlaskCliRunner, counselor: FlaskClient, keyring_file: Path
) -> None:
    ids = [register(counselor, n) for n in range(3)]
    old_key = get_keyring(app).active
    assert invoke(runner, "rotate").exit_code == 0

    refused = invoke(runner, "retire", old_key.id)
    assert refused.exit_code == 1
    assert "still wraps 3 data keys" in refused.output
    assert "keys rewrap" in refused.output
    assert load_keyring(keyring_file).master(old_key.id).state is KeyState.DECRYPT_ONLY
    active = invoke(runner, "retire", get_keyring(app).active.id)
    assert active.exit_code == 1
    assert "rotate first" in active.output

    assert invoke(runner, "rewrap").exit_code == 0
    status = invoke(runner, "status")
    assert f"`welfare keys retire {old_key.id}` may retire it" in status.output
    retired = invoke(runner, "retire", old_key.id)
    assert retired.exit_code == 0, retired.output
    on_file = json.loads(keyring_file.read_text())
    (record,) = [k for k in on_file["master_keys"] if k["id"] == old_key.id]
    assert record["state"] == "retired"
    assert record["key"] is None
    assert base64.b64encode(old_key.secret).decode() not in keyring_file.read_text()
    assert all(reads(counselor, r, n) for n, r in enumerate(ids))
    lines = invoke(runner, "status").output.splitlines()
    assert any(line.startswith(old_key.id) and "retired" in line for line in lines)


def test_retire_commits_its_mark_and_a_keyring_file_it_cannot_write_says_how_to_finish(
    app: Flask, runner: FlaskCliRunner, keyring_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark that keeps nodes from wrapping under the key is committed before the file is
    written (services/key_retirement.py); a file that cannot be written leaves the secret in
    it and says to run retire again, which then finishes."""
    old_key = get_keyring(app).active
    assert invoke(runner, "rotate").exit_code == 0
    real_save = keys_cli.save_keyring

    def unwritable(*_args: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(keys_cli, "save_keyring", unwritable)
    failed = invoke(runner, "retire", old_key.id)
    assert failed.exit_code == 1
    assert f"run `welfare keys retire {old_key.id}` again" in failed.output
    with get_database(app).new_session() as s:
        assert s.get(SystemMarker, key_retirement.PREFIX + old_key.id) is not None
    assert load_keyring(keyring_file).master(old_key.id).state is KeyState.DECRYPT_ONLY
    monkeypatch.setattr(keys_cli, "save_keyring", real_save)
    assert invoke(runner, "retire", old_key.id).exit_code == 0
    assert load_keyring(keyring_file).master_keys[0].id  # the file still loads
    assert all(
        k.state is KeyState.RETIRED
        for k in load_keyring(keyring_file).master_keys
        if k.id == old_key.id
    )


def test_an_unknown_key_id_cannot_be_retired(runner: FlaskCliRunner) -> None:
    result = invoke(runner, "retire", "mk-20000101-000000")
    assert result.exit_code == 1
    assert "no master key" in result.output


def test_after_retirement_a_backup_taken_before_an_erasure_no_longer_opens(
    app: Flask, db: Database, runner: FlaskCliRunner, counselor: FlaskClient, login_as: Any
) -> None:
    """A backup keeps the erased resident's data key, wrapped under that epoch's master key.

    Erasure cannot reach into the backup; the retirement of the epoch's master key can, once the
    backup retention window has passed (see services/keys.py). Until then the backup opens; from
    then on it never does.
    """
    erased_id = register(counselor, 1)
    with db.new_session() as s:
        row = s.get_one(DataKey, uuid.UUID(erased_id))
        assert row.master_key_id is not None and row.wrapped is not None
        backup = WrappedKey(master_key_id=row.master_key_id, blob=row.wrapped)
    supervisor = login_as("supervisor", dongs=(GASAN,))
    erasure = supervisor.post(
        f"/api/v1/residents/{erased_id}/erasure", json={"reason": "정보주체 파기 요청"}
    )
    assert erasure.status_code == 200
    with db.new_session() as s:
        assert s.get_one(DataKey, uuid.UUID(erased_id)).wrapped is None  # the live copy is gone
    assert unwrap_data_key(get_keyring(app), backup, erased_id)  # the backup still opens

    assert invoke(runner, "rotate").exit_code == 0
    assert invoke(runner, "rewrap").exit_code == 0
    assert invoke(runner, "retire", backup.master_key_id).exit_code == 0

    with pytest.raises(DecryptionError):
        unwrap_data_key(get_keyring(app), backup, erased_id)
    assert dict(keys.data_key_dependents(db.new_session())).get(backup.master_key_id) is None
