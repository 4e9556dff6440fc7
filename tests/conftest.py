"""Fixtures: migrate once per run, roll every test back; the same suite runs on both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from config import Settings
from services.audit import start_chains
from tests.support.databases import backend, fresh_database
from welfare.app import create_app
from welfare.crypto.keyring import Keyring
from welfare.database import KEYRING_INFO, Database, make_engine
from welfare.migrate import upgrade
from welfare.web import get_database


def pytest_report_header() -> str:
    return f"welfare test database backend: {backend()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if backend() == "postgresql":
        return
    skip = pytest.mark.skip(reason="PostgreSQL only (set WELFARE_TEST_DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("welfare-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    with fresh_database(data_dir, "suite") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str, keyring: Keyring) -> Iterator[Engine]:
    """The suite's database, migrated once with the real migrations (never create_all), its
    audit chains started with the suite's key, as `welfare db upgrade` leaves a database."""
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(bind=engine, info={KEYRING_INFO: keyring}) as s, s.begin():
        start_chains(s)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return Keyring.generate(for_development=False)


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        env="test",
        data_dir=data_dir,
        database_url=database_url,
        keyring_file=data_dir / "keyring.json",
        keyring_file_is_default=False,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        argon2_profile="fast",
        log_level="INFO",
    )


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is always rolled back."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


@pytest.fixture
def session(connection: Connection, keyring: Keyring) -> Iterator[Session]:
    """A session on the rolled-back connection; its commits only release savepoints."""
    with Session(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info={KEYRING_INFO: keyring},
    ) as s:
        yield s


@pytest.fixture
def checkpoint_file(tmp_path: Path) -> Path:
    """The app's audit checkpoint sink: a file of its own per test, as the checkpoints of one
    test's (rolled-back) chains would not match the next test's."""
    return tmp_path / "audit-checkpoints.jsonl"


@pytest.fixture
def app(
    settings: Settings, keyring: Keyring, connection: Connection, checkpoint_file: Path
) -> Iterator[Flask]:
    app = create_app(
        replace(
            settings,
            audit_checkpoint_file=checkpoint_file,
            erasure_ledger=checkpoint_file.with_name("erasure-ledger.jsonl"),
        ),
        keyring=keyring,
    )
    get_database(app).bind_to(connection)
    yield app
    get_database(app).dispose()


@pytest.fixture
def db(app: Flask) -> Database:
    return get_database(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def login_as(app: Flask) -> Callable[..., FlaskClient]:
    """Create a staff member of `role` (scoped to `dongs`) and return a logged-in client."""
    from tests.support.staff import GASAN, log_in, make_staff, token_client

    def login(role: str = "counselor", dongs: Sequence[str] = (GASAN,)) -> FlaskClient:
        member = make_staff(app, role, dongs)
        client = token_client(app, member) if role == "gateway" else log_in(app, member)
        client.staff = member  # type: ignore[attr-defined]  # tests read who the client is
        return client

    return login
