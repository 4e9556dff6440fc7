"""Shared pieces of the Ongi benchmarks: machine facts, throw-away databases, bulk loading.

Not a benchmark itself (the Makefile runs `bench_*.py` only). Bulk rows go straight into the
tables (COPY on PostgreSQL, executemany on SQLite): the benchmarks measure the scheduler, the
queue and contact logging, not registration, so encrypted columns hold random bytes of a
realistic length and plain columns hold realistic values. Every value is converted by the
column's own SQLAlchemy type first, so what lands on disk is exactly what the ORM would write.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import sqlalchemy
from sqlalchemy import Engine, Table, event, text
from sqlalchemy.engine import make_url

from config.reference import load_dongs
from welfare.crypto.blind_index import NAME_INDEX_BITS, PHONE_INDEX_BITS
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.migrate import upgrade
from welfare.models import OngiEnrollment, Resident
from welfare.scratch import scratch_database

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL_ENVS = ("WELFARE_BENCH_DATABASE_URL", "WELFARE_TEST_DATABASE_URL")
DONGS: tuple[str, ...] = tuple(d.code for d in load_dongs())
# Rough relative sizes of the ten dongs' older populations: the spread is uneven, as it is.
DONG_WEIGHTS = (14, 12, 8, 9, 8, 11, 9, 12, 8, 9)
# Risk levels (config/risk_levels.json) and the share of enrollments at each.
RISK_LEVELS = (("high", 24), ("medium", 72), ("low", 168))
RISK_WEIGHTS = (20, 35, 45)
HOUSEHOLDS = ("single", "elderly_couple", "single_parent", "grandparent_family", "disabled")
HOUSEHOLD_WEIGHTS = (70, 15, 5, 4, 6)
SQLITE_LOAD_CACHE_KIB = 1_000_000

RESIDENT_COLUMNS = (
    "id",
    "dong_code",
    "birth_year",
    "sex",
    "is_foreigner",
    "household_type",
    "status",
    "name_enc",
    "rrn_enc",
    "phone_enc",
    "address_enc",
    "notes_enc",
    "rrn_index",
    "phone_index",
    "name_index",
    "created_at",
    "updated_at",
    "erased_at",
    "version",
)
ENROLLMENT_COLUMNS = (
    "id",
    "resident_id",
    "dong_code",
    "risk_level",
    "interval_hours",
    "status",
    "enrolled_at",
    "last_success_at",
    "next_due_at",
    "paused_at",
    "ended_at",
    "created_by",
    "updated_at",
    "version",
)


# -- command line and machine -----------------------------------------------------------------
def size_argument(
    parser: argparse.ArgumentParser, name: str, env: str, default: int, what: str
) -> None:
    """An integer size option that an environment variable can also set (for `make bench`)."""
    parser.add_argument(
        f"--{name}",
        type=lambda v: int(v.replace("_", "")),
        default=int(os.environ.get(env, default)),
        help=f"{what} (default {default:,}; env {env})",
    )


def backend_arguments(parser: argparse.ArgumentParser, *, sqlite: bool = True) -> None:
    choices = ["sqlite", "postgresql", "both"] if sqlite else ["postgresql"]
    parser.add_argument("--backend", choices=choices, default=choices[-1])
    parser.add_argument(
        "--pg-url",
        default=next((os.environ[e] for e in PG_URL_ENVS if os.environ.get(e)), DEFAULT_PG_URL),
        help="a PostgreSQL server where throw-away welfare_bench_* databases may be created",
    )


def backends(choice: str, pg_url: str) -> list[str]:
    """The backends to run; PostgreSQL is skipped with a notice when no server answers."""
    wanted = ["sqlite", "postgresql"] if choice == "both" else [choice]
    if "postgresql" in wanted and not postgres_answers(pg_url):
        print(f"!! PostgreSQL leg SKIPPED: no server answered at {redact(pg_url)}")
        wanted.remove("postgresql")
    return wanted


def machine_line() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}; "
        f"load average at start {load}"
    )


def database_line(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return (
            f"database: SQLite {sqlite3.sqlite_version}, a fresh file in a temp dir "
            "(WAL, synchronous=NORMAL, BEGIN IMMEDIATE, as welfare.database tunes it)"
        )
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        settings = dict(
            conn.execute(
                text(
                    "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'synchronous_commit', 'max_parallel_workers_per_gather')"
                )
            ).all()
        )
    return (
        f"database: PostgreSQL {version} (psycopg {psycopg.__version__}), a fresh database; "
        + ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    )


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def libpq_url(url: str) -> str:
    """The URL as libpq takes it (psycopg.connect), without SQLAlchemy's driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


# -- throw-away databases ---------------------------------------------------------------------
def throwaway_database(backend: str, label: str, pg_url: str) -> AbstractContextManager[str]:
    """A new, empty database's URL (SQLite file or PostgreSQL database) for a `with` block,
    dropped at its end; `welfare.scratch` makes and removes it, as for the test suite."""
    server = pg_url if backend == "postgresql" else None
    return scratch_database(server, label=f"bench_{label}")


def migrated_database(url: str, keyring: Keyring | None = None, **engine_kwargs: Any) -> Database:
    """The app's Database on `url` with a keyring set, migrated with the real migrations."""
    database = Database(
        url, keyring=keyring or Keyring.generate(for_development=False), **engine_kwargs
    )
    upgrade(database.engine)
    return database


def analyze(engine: Engine) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL; SQLite is left as shipped)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


# -- bulk loading -----------------------------------------------------------------------------
def bulk_insert(
    engine: Engine, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert rows fast: COPY on PostgreSQL, one executemany transaction on SQLite.

    The connection is detached from the pool and closed afterwards, so the loader's settings
    (a large SQLite page cache) never leak into a measured connection.
    """
    dialect = engine.dialect
    convert = row_converter(engine, table, columns)
    raw = engine.raw_connection()
    driver: Any = raw.driver_connection
    raw.detach()
    count = 0
    try:
        if dialect.name == "postgresql":
            copy_sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(convert(row))
                    count += 1
            driver.commit()
        else:
            driver.execute(f"PRAGMA cache_size=-{SQLITE_LOAD_CACHE_KIB}")
            insert = (
                f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            driver.execute("BEGIN")
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(convert(row))
                if len(batch) >= 20_000:
                    driver.executemany(insert, batch)
                    count += len(batch)
                    batch.clear()
            driver.executemany(insert, batch)
            count += len(batch)
            driver.execute("COMMIT")
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    return count


def row_converter(
    engine: Engine, table: Table, columns: Sequence[str]
) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """Convert a row's values as the columns' SQLAlchemy types would bind them.

    The types' own processors cost several microseconds a value, which is minutes at a million
    rows; the few kinds used here get a direct equivalent instead, and each one is checked
    against the type's processor on the first values it converts.
    """
    dialect = engine.dialect
    sqlite = dialect.name == "sqlite"
    slow = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    fast: list[Callable[[Any], Any] | None] = []
    for name, processor in zip(columns, slow, strict=True):
        kind = type(table.c[name].type).__name__
        if processor is None or kind == "LargeBinary":
            fast.append(None)  # both drivers take bytes as they are
        elif kind == "Uuid" and sqlite:
            fast.append(_uuid_hex)
        elif kind == "UTCDateTime" and sqlite:
            fast.append(_sqlite_datetime)
        elif kind == "UTCDateTime":
            fast.append(None)  # psycopg takes the aware UTC datetime as it is
        elif kind == "Boolean" and sqlite:
            fast.append(int)
        else:
            fast.append(processor)
    active = [(i, f) for i, f in enumerate(fast) if f is not None]
    checked = [
        (i, f, s)
        for i, (f, s) in enumerate(zip(fast, slow, strict=True))
        if s is not None and f is not s and type(table.c[columns[i]].type).__name__ != "LargeBinary"
    ]

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for i, quick in active:
            if values[i] is not None:
                values[i] = quick(values[i])
        return tuple(values)

    def convert_checked(row: Sequence[Any]) -> tuple[Any, ...]:
        values = convert(row)
        for i, quick, reference in checked:
            if row[i] is not None and (quick or _same)(row[i]) != reference(row[i]):
                raise AssertionError(f"{table.name}.{columns[i]}: fast conversion differs")
        return values

    calls = [0]

    def converter(row: Sequence[Any]) -> tuple[Any, ...]:
        calls[0] += 1
        return convert_checked(row) if calls[0] <= 200 else convert(row)

    return converter


def _same(value: Any) -> Any:
    return value


def _uuid_hex(value: uuid.UUID) -> str:
    return value.hex


def _sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format of a UTC instant (naive UTC, microseconds)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sorted_ids(count: int, rng: random.Random) -> list[uuid.UUID]:
    """Random UUIDs in key order, so primary keys load as appends."""
    return [uuid.UUID(int=n) for n in sorted(rng.getrandbits(128) for _ in range(count))]


def pick_dongs(count: int, rng: random.Random) -> list[str]:
    return rng.choices(DONGS, weights=DONG_WEIGHTS, k=count)


def resident_rows(
    ids: Sequence[uuid.UUID], dongs: Sequence[str], rng: random.Random, now: datetime
) -> Iterator[tuple[Any, ...]]:
    """Residents with random ciphertext of realistic length in the sealed columns."""
    count = len(ids)
    households = rng.choices(HOUSEHOLDS, weights=HOUSEHOLD_WEIGHTS, k=count)
    sexes = rng.choices(("male", "female"), k=count)
    base = now.timestamp()
    for i, (resident_id, dong) in enumerate(zip(ids, dongs, strict=True)):
        created = datetime.fromtimestamp(base - rng.random() * 3 * 365 * 86400, UTC)
        yield (
            resident_id,
            dong,
            1930 + rng.randrange(36),
            sexes[i],
            rng.random() < 0.02,
            households[i],
            "active",
            rng.randbytes(40 + rng.randrange(7)),  # name: header, nonce, 1-3 syllables, tag
            rng.randbytes(52),  # RRN
            rng.randbytes(51),  # phone
            rng.randbytes(110 + rng.randrange(60)),  # address
            rng.randbytes(60 + rng.randrange(240)) if rng.random() < 0.3 else None,  # notes
            rng.randbytes(32),  # RRN blind index: a full HMAC
            rng.getrandbits(PHONE_INDEX_BITS),
            rng.getrandbits(NAME_INDEX_BITS),
            created,
            created,
            None,
            1,
        )


def load_residents(
    engine: Engine,
    ids: Sequence[uuid.UUID],
    dongs: Sequence[str],
    rng: random.Random,
    now: datetime,
) -> int:
    return bulk_insert(
        engine,
        cast(Table, Resident.__table__),
        RESIDENT_COLUMNS,
        resident_rows(ids, dongs, rng, now),
    )


def enrollment_rows(
    *,
    resident_ids: Sequence[uuid.UUID],
    dongs: Sequence[str],
    lapsed: Callable[[int], bool],
    as_of: datetime,
    rng: random.Random,
) -> Iterator[tuple[Any, ...]]:
    """One active enrollment per resident; lapsed ones are due before `as_of` (up to three days
    late), the rest due within one interval after it, as contacts keep them."""
    count = len(resident_ids)
    ids = sorted_ids(count, rng)
    staff = [uuid.uuid4() for _ in range(40)]
    levels = rng.choices(RISK_LEVELS, weights=RISK_WEIGHTS, k=count)
    creators = rng.choices(staff, k=count)
    base = as_of.timestamp()
    for i, (resident_id, dong) in enumerate(zip(resident_ids, dongs, strict=True)):
        level, hours = levels[i]
        interval = hours * 3600
        if lapsed(i):
            due = base - 1 - rng.random() * 3 * 86400
        else:
            due = base + 1 + rng.random() * (interval - 1)
        last_success = datetime.fromtimestamp(due - interval, UTC)
        yield (
            ids[i],
            resident_id,
            dong,
            level,
            hours,
            "active",
            datetime.fromtimestamp(due - interval - rng.random() * 700 * 86400, UTC),
            last_success,
            datetime.fromtimestamp(due, UTC),
            None,
            None,
            creators[i],
            last_success,
            1 + rng.randrange(200),
        )


def load_enrollments(
    engine: Engine,
    *,
    resident_ids: Sequence[uuid.UUID],
    dongs: Sequence[str],
    lapsed: Callable[[int], bool],
    as_of: datetime,
    rng: random.Random,
) -> int:
    return bulk_insert(
        engine,
        cast(Table, OngiEnrollment.__table__),
        ENROLLMENT_COLUMNS,
        enrollment_rows(
            resident_ids=resident_ids, dongs=dongs, lapsed=lapsed, as_of=as_of, rng=rng
        ),
    )


def explain(engine: Engine, sql: str, params: Any, setup: Sequence[str] = ()) -> list[str]:
    """The plan of a statement exactly as the driver received it; PostgreSQL runs it (EXPLAIN
    ANALYZE) inside a transaction that is rolled back, after the `setup` statements."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement in setup:
            cursor.execute(statement)
        if engine.dialect.name == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            lines = [row[0] for row in cursor.fetchall()]
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            lines = [f"{'  ' * (row[1] > 0)}{row[3]}" for row in cursor.fetchall()]
        raw.rollback()
        return [line for line in lines if not line.lstrip().startswith("Buffers: shared hit")]
    finally:
        raw.close()


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the driver receives while the block runs."""
    seen: list[tuple[str, Any]] = []

    def before(_c: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


# -- figures ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; q=50 is the median."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """`with stopwatch() as elapsed:` ... `elapsed()` seconds, frozen when the block ends."""
    started = time.perf_counter()
    ended: list[float] = []
    yield lambda: (ended[0] if ended else time.perf_counter()) - started
    ended.append(time.perf_counter())
