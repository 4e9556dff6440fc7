"""Running nodes pick up `welfare keys rotate`, `rewrap` and `retire` without a restart, and a
rotation under load fails no request (docs/operations.md, "Keys").

Two apps on one database and one keyring file stand for two web nodes; the rotation runs through
the real CLI of a third. The suite's backend decides the database (SQLite file or PostgreSQL).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from config import Settings
from tests.support.casework import unique_rrn
from tests.support.databases import fresh_database
from tests.support.staff import GASAN, log_in, make_staff
from welfare.app import create_app
from welfare.crypto.keyring import Keyring, KeyState, load_keyring, save_keyring
from welfare.models import DataKey
from welfare.web import get_database, get_keyring, get_settings


def node(url: str, folder: Path) -> Flask:
    """A node as production starts one: the keyring read from its file (and so watched)."""
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
def nodes(tmp_path: Path) -> Iterator[tuple[Flask, Flask, Flask]]:
    """Two web nodes and an operator's CLI, sharing a database and the keyring file."""
    save_keyring(Keyring.generate(for_development=False), tmp_path / "keyring.json")
    with fresh_database(tmp_path, "pickup") as url:
        apps = (node(url, tmp_path), node(url, tmp_path), node(url, tmp_path))
        assert apps[2].test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
        for app in apps:
            app.extensions["welfare.keyring_file"].interval = 0.2
        yield apps
        for app in apps:
            get_database(app).dispose()


def cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def register(client: Any) -> uuid.UUID:
    response = client.post(
        "/api/v1/residents", json={"name": "순환희", "rrn": unique_rrn(), "dong": GASAN}
    )
    assert response.status_code == 201, response.get_json()
    return uuid.UUID(response.get_json()["id"])


def test_a_node_reads_keys_rewrapped_under_a_key_it_has_not_picked_up_yet_and_then_picks_it_up(
    nodes: tuple[Flask, Flask, Flask], tmp_path: Path
) -> None:
    web, _, operator = nodes
    web.extensions["welfare.keyring_file"].interval = 3600  # it will not look by itself
    client = log_in(web, make_staff(web, "counselor", (GASAN,)))
    rid = register(client)
    old = get_keyring(web).active.id

    cli(operator, "keys", "rotate")
    cli(operator, "keys", "rewrap", "--pickup-wait", "0")
    new = load_keyring(tmp_path / "keyring.json").active.id
    with get_database(operator).new_session() as s:
        assert {k.master_key_id for k in s.query(DataKey)} == {new}

    # Still on the old keyring, the node reads a key already moved under the new one.
    assert get_keyring(web).active.id == old
    assert client.get(f"/api/v1/residents/{rid}").status_code == 200
    assert get_keyring(web).active.id == new  # the retry picked the file up
    assert web.extensions["welfare.keyring_file"].generation == 1

    web.extensions["welfare.keyring_file"].interval = 0.0
    cli(operator, "keys", "retire", old)
    assert client.get(f"/api/v1/residents/{rid}").status_code == 200  # its next request looks
    retired = next(k for k in get_keyring(web).master_keys if k.id == old)
    assert retired.state is KeyState.RETIRED and retired.secret == b""
    created = register(client)
    with get_database(web).new_session() as s:
        assert s.get_one(DataKey, created).master_key_id == new  # wraps under the new key


def test_rotation_under_load_fails_no_request_on_either_node(
    nodes: tuple[Flask, Flask, Flask],
) -> None:
    first, second, operator = nodes
    counselor = make_staff(first, "counselor", (GASAN,))
    clients = [log_in(app, counselor) for app in (first, second) for _ in range(2)]
    rids = [register(clients[0]) for _ in range(5)]
    statuses: list[int] = []
    stop = threading.Event()

    def work(client: Any, n: int) -> None:
        i = n
        while not stop.is_set():
            i += 1
            if i % 4 == 0:
                statuses.append(
                    client.post(
                        "/api/v1/residents",
                        json={"name": "부하희", "rrn": unique_rrn(), "dong": GASAN},
                    ).status_code
                )
            else:
                statuses.append(client.get(f"/api/v1/residents/{rids[i % 5]}").status_code)

    threads = [threading.Thread(target=work, args=(c, n)) for n, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        old = get_keyring(operator).active.id
        cli(operator, "keys", "rotate")
        # A request that read its keyring before the pick-up and commits after the rewrap
        # leaves a data key under the old key; retire refuses then, and the operator rewraps
        # again, as its message says (on a loaded machine this happens).
        for _ in range(3):
            cli(operator, "keys", "rewrap", "--pickup-wait", "0.5", "--batch", "2")
            time.sleep(0.3)
            retired = operator.test_cli_runner().invoke(args=["keys", "retire", old])
            if retired.exit_code == 0:
                break
            assert "keys rewrap" in retired.output, retired.output
        assert retired.exit_code == 0, retired.output
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    failed = [s for s in statuses if s >= 300]
    assert len(statuses) > 20 and failed == []
    # Each node took the change up without a restart: by its next request after the check
    # interval at the latest (a node whose requests all waited on the database during the
    # rotation saw nothing change before; a loaded machine may fold rotate and retire into one
    # pick-up), it holds the final keyring.
    final = load_keyring(get_settings(operator).keyring_file)
    for app, client in ((first, clients[0]), (second, clients[2])):
        time.sleep(app.extensions["welfare.keyring_file"].interval)
        assert client.get(f"/api/v1/residents/{rids[0]}").status_code == 200
        assert app.extensions["welfare.keyring_file"].generation >= 1
        assert get_keyring(app).to_json() == final.to_json()
        assert get_keyring(app).master(final.active.id)
