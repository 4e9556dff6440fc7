"""Engine and session glue: one engine per app, one session per request or command.

On SQLite the connection is tuned for a small embedded server: WAL so readers never wait for the
writer, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every transaction. Nearly every
request writes (each read of resident data leaves an access record), and a deferred transaction
that later upgrades to a write lock can fail with "database is locked" regardless of the busy
timeout; taking the write lock up front makes writers queue instead.

Erasure must reach the disk (docs/security-model.md "Erasure on disk"): `secure_delete` is set on
every connection, whatever the SQLite build's default, so deleted or overwritten values are
zeroed in their pages; after an erasure `checkpoint_after_erasure` copies those pages into the
database file and truncates the WAL, which still held the old ones. The database file is created
0600 before SQLite would create it with the process umask.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, func, make_url, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from welfare.crypto.keyring import Keyring

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_SECONDS = 5  # an unreachable server answers 503 after this, never a hang
POOL_TIMEOUT_SECONDS = 10  # waiting for a pooled connection
# SQLite errors that say the database cannot serve now (locked, full, read-only, unreachable),
# as opposed to a bug (no such table, syntax): those answer 503, these stay 500.
_SQLITE_TRANSIENT = (
    "locked",
    "busy",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "unable to open database file",
)
KEYRING_INFO = "welfare.keyring"
# A callable returning the freshest keyring (the watched keyring file), where there is one.
KEYRING_SOURCE_INFO = "welfare.keyring_source"
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

log = logging.getLogger("welfare.database")


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
        # A connection the server dropped (a restart) is noticed and replaced before use.
        options["pool_pre_ping"] = True
        options["pool_timeout"] = POOL_TIMEOUT_SECONDS
        options["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS}
    options.update(kwargs)
    if url.startswith("sqlite"):
        create_private_sqlite_file(url)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def create_private_sqlite_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only (0600). SQLite would create it
    with the umask (often 0644), and the file holds ciphertexts, blind indexes and wrapped data
    keys; its WAL and shared-memory files take the database file's mode. An existing file is left
    as it is, and a missing folder too (SQLite then refuses to open, as before); the embedded
    data dir is created 0700 by `welfare.web.init_database`."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return  # another process created it first, with its own mode
    os.close(fd)  # an empty file is an empty database to SQLite


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
        # Zero deleted content in place; the build's default varies (Debian: on; upstream: off).
        cursor.execute("PRAGMA secure_delete=ON")
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


def checkpoint_after_erasure(session: Session) -> None:
    """SQLite only, after an erasure has committed: copy every page of the WAL (where
    `secure_delete` zeroed the erased values) into the database file and truncate the WAL, whose
    older frames still hold the values as they were. A no-op on PostgreSQL, and for a session
    bound to an outer transaction (tests), where no checkpoint can run.

    TRUNCATE waits (up to the busy timeout) for readers of older snapshots and holds new writers
    meanwhile: erasure is rare, and the wait is bounded. If it still could not finish, the next
    checkpoints complete the copy; the warning says so without naming anyone.
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or not isinstance(bind, Engine):
        return
    raw = bind.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        row = cursor.fetchone()  # (busy, frames in the log, frames checkpointed)
        cursor.close()
    except sqlite3.Error:
        row = None  # the erasure itself has committed: it must not answer 500 for this
    finally:
        raw.close()
    if row is None or row[0]:
        log.warning("WAL checkpoint after an erasure could not finish; a later one will")


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "not now" (unreachable, restarting, refusing writes,
    locked, full) rather than a bug: the API answers 503 with Retry-After for these."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True  # no pooled connection came free in time
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return any(part in message for part in _SQLITE_TRANSIENT)
    if isinstance(orig, sqlite3.Error):
        return False
    return isinstance(orig, psycopg.OperationalError | psycopg.errors.ReadOnlySqlTransaction)


def database_now(session: Session) -> datetime:
    """The database clock, so every node of a cluster agrees on `as_of`."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's CURRENT_TIMESTAMP has one-second precision; strftime keeps milliseconds.
        raw = session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    value = session.execute(select(func.now())).scalar_one()
    return value.astimezone(UTC)


def fresher_keyring(session: Session) -> Keyring | None:
    """The keyring file's current keyring when it is newer than the session's (a rotation
    landed while the session was open), else None."""
    source = session.info.get(KEYRING_SOURCE_INFO)
    if source is None:
        return None
    fresh = source()
    if not isinstance(fresh, Keyring) or fresh is session.info.get(KEYRING_INFO):
        return None
    return fresh


def session_keyring(session: Session) -> Keyring:
    """The keyring the session was opened with; a session without one is a wiring bug."""
    keyring = session.info.get(KEYRING_INFO)
    if not isinstance(keyring, Keyring):
        raise RuntimeError("this session has no keyring (open it through Database)")
    return keyring
