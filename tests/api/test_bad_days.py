"""Bad days (docs/operations.md, "Bad days"): a database that refuses writes or cannot be reached
answers 503 with Retry-After, never a 500 or a hang, and leaves nothing half written; a
connection the server dropped (a restart) is replaced before use; /readyz says what is wrong.

Each test runs its own app on its own database of the suite's backend, since it breaks it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text

from config import Settings
from tests.support.casework import unique_rrn
from tests.support.databases import backend, fresh_database, postgres_admin_url
from tests.support.staff import GASAN, log_in, make_staff
from welfare.app import create_app
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.models import AuditEvent, DataKey, Resident
from welfare.web import get_database, get_keyring

PROBLEM = "application/problem+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    with fresh_database(tmp_path, "bad_days") as url:
        app = create_app(
            Settings(
                env="test",
                data_dir=tmp_path,
                database_url=url,
                secret_key="test-secret-key-that-is-long-enough-0123456789",
                argon2_profile="fast",
                audit_checkpoint_file=tmp_path / "audit-checkpoints.jsonl",
                erasure_ledger=tmp_path / "erasure-ledger.jsonl",
            ),
            keyring=Keyring.generate(for_development=False),
        )
        assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
        yield app
        get_database(app).dispose()


def register(client: Any) -> Any:
    return client.post(
        "/api/v1/residents", json={"name": "장애희", "rrn": unique_rrn(), "dong": GASAN}
    )


def counts(app: Flask) -> tuple[int, int, int]:
    with get_database(app).new_session() as s:
        return tuple(  # type: ignore[return-value]
            int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Resident, DataKey, AuditEvent)
        )


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_json()
    assert response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["code"] == "database_unavailable"


def test_a_database_that_refuses_writes_answers_503_and_writes_nothing(app: Flask) -> None:
    client = log_in(app, make_staff(app, "counselor", (GASAN,)))
    assert register(client).status_code == 201
    before = counts(app)
    engine = get_database(app).engine

    def refuse_writes(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if backend() == "sqlite":
            cursor.execute("PRAGMA query_only=ON")  # as a disk remounted read-only
        else:
            cursor.execute("SET default_transaction_read_only = on")  # as a demoted primary
            dbapi_connection.commit()
        cursor.close()

    event.listen(engine, "connect", refuse_writes)
    engine.dispose()
    try:
        assert_unavailable(register(client))
        assert_unavailable(client.get("/api/v1/residents"))  # a read writes its access record
    finally:
        event.remove(engine, "connect", refuse_writes)
        engine.dispose()
    assert counts(app) == before  # no resident, data key or access record half written
    assert register(client).status_code == 201  # and it serves again by itself


def unreachable_url(tmp_path: Path, listener: socket.socket) -> str:
    if backend() == "sqlite":
        return f"sqlite:///{tmp_path / 'gone' / 'welfare.db'}"
    # A server that takes the connection and never answers: only the connect timeout ends it.
    port = listener.getsockname()[1]
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/welfare"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # never accepted: connections wait in the backlog
    yield sock
    sock.close()


def test_an_unreachable_database_answers_503_and_readyz_says_so(
    app: Flask, tmp_path: Path, listener: socket.socket
) -> None:
    client = log_in(app, make_staff(app, "counselor", (GASAN,)))
    working = get_database(app)
    broken = Database(unreachable_url(tmp_path, listener), keyring=get_keyring(app))
    app.extensions["welfare.database"] = broken
    try:
        assert_unavailable(client.get("/api/v1/residents"))
        assert_unavailable(register(client))
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
        assert ready.get_json()["checks"]["database"]["ok"] is False
    finally:
        app.extensions["welfare.database"] = working
        broken.dispose()
    assert client.get("/api/v1/residents").status_code == 200
    assert client.get("/readyz").get_json()["checks"]["database"]["ok"] is True


def test_connections_the_server_dropped_are_replaced_before_use(app: Flask) -> None:
    if backend() != "postgresql":
        pytest.skip("SQLite has no server to drop connections")
    client = log_in(app, make_staff(app, "counselor", (GASAN,)))
    assert client.get("/api/v1/residents").status_code == 200  # the pool holds a connection
    database = get_database(app)
    with database.engine.connect() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
    admin = Database(str(postgres_admin_url()).replace("postgresql://", "postgresql+psycopg://"))
    try:
        with admin.engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar_one()
    finally:
        admin.dispose()
    assert killed >= 1
    assert client.get("/api/v1/residents").status_code == 200  # pre-ping replaced it
    assert register(client).status_code == 201


def test_the_console_answers_an_unreachable_database_with_a_korean_503_page(
    app: Flask, tmp_path: Path, listener: socket.socket
) -> None:
    """The console's pages say it in Korean, as HTML with Retry-After; the API keeps problem+json
    on the same outage."""
    from tests.support.console import console_login

    client = console_login(app, make_staff(app, "counselor", (GASAN,)))
    working = get_database(app)
    broken = Database(unreachable_url(tmp_path, listener), keyring=get_keyring(app))
    app.extensions["welfare.database"] = broken
    try:
        for path in ("/", "/kimchi"):  # each waits out the connect timeout on PostgreSQL
            page = client.get(path)
            assert page.status_code == 503, path
            assert page.mimetype == "text/html" and page.headers["Retry-After"] == "5", path
            body = page.get_data(as_text=True)
            assert '<html lang="ko">' in body and "잠시 사용할 수 없습니다" in body, path
            assert "저장되지 않았습니다" in body
            assert page.headers["Cache-Control"] == "no-store"
            assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
        posted = client.post("/residents/search", data={"term": "장애희"})
        assert posted.status_code == 503 and posted.mimetype == "text/html"
        assert_unavailable(client.get("/api/v1/residents"))  # the API: problem+json
    finally:
        app.extensions["welfare.database"] = working
        broken.dispose()
    assert client.get("/").status_code == 200
