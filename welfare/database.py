"""Engine and session glue: one engine per app, one session per request or command.

On SQLite the connection is tuned for a small embedded server: WAL so readers never wait for the
writer, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every transaction. Nearly every
request writes (each read of resident data leaves an access record), and a deferred transaction
that later upgrades to a write lock can fail with "database is locked" regardless of the busy
timeout; taking the write lock up front makes writers queue instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from welfare.crypto.keyring import Keyring

SQLITE_BUSY_TIMEOUT_MS = 30_000
KEYRING_INFO = "welfare.keyring"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine that never logs bound parameters (they may hold personal data)."""
    options: dict[str, Any] = {"hide_parameters": True, "future": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        if url in ("sqlite://", "sqlite:///:memory:"):
            options["poolclass"] = StaticPool
    else:
        options["pool_pre_ping"] = True
    options.update(kwargs)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """Holds the engine and the session factory of one app or command."""

    def __init__(self, url: str, *, keyring: Keyring | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._info: dict[str, Any] = {}
        if keyring is not None:
            self.set_keyring(keyring)

    def set_keyring(self, keyring: Keyring) -> None:
        """Every session carries the keyring in `session.info`, so use cases stay functions
        of the session alone and keys never pass through request globals."""
        self.set_info(KEYRING_INFO, keyring)

    def set_info(self, name: str, value: Any) -> None:
        """Give every session opened from now on `value` in `session.info[name]`: what a use
        case needs from outside the database (the keyring, the audit checkpoint sink)."""
        self._info[name] = value
        self.sessionmaker.configure(info=dict(self._info))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def bind_to(self, connection: Connection) -> None:
        """Make every new session join `connection` inside a savepoint (tests roll it back)."""
        self.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")

    def new_session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only unit of work over one consistent snapshot that never blocks writers.

        PostgreSQL runs it REPEATABLE READ; SQLite begins DEFERRED, so a long read (verifying
        millions of access records) never holds the write lock every request needs. A
        database bound to a test connection joins that connection's transaction instead.
        """
        with self.sessionmaker() as session:
            if isinstance(session.get_bind(), Engine):
                options = (
                    {"sqlite_begin": "DEFERRED"}
                    if self.dialect == "sqlite"
                    else {"isolation_level": "REPEATABLE READ"}
                )
                session.connection(execution_options=options)
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def database_now(session: Session) -> datetime:
    """The database clock, so every node of a cluster agrees on `as_of`."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's CURRENT_TIMESTAMP has one-second precision; strftime keeps milliseconds.
        raw = session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    value = session.execute(select(func.now())).scalar_one()
    return value.astimezone(UTC)


def session_keyring(session: Session) -> Keyring:
    """The keyring the session was opened with; a session without one is a wiring bug."""
    keyring = session.info.get(KEYRING_INFO)
    if not isinstance(keyring, Keyring):
        raise RuntimeError("this session has no keyring (open it through Database)")
    return keyring
