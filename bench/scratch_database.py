"""Throw-away databases for benchmarks: a temporary SQLite file, or a fresh PostgreSQL database.

Set `WELFARE_BENCH_DATABASE_URL` to a PostgreSQL server URL on which the benchmark may create and
drop a database; without it, benchmarks run on a SQLite file in a temporary directory.
"""

from __future__ import annotations

import os
import platform
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from config.settings import _with_psycopg_driver

BENCH_DATABASE_ENV = "WELFARE_BENCH_DATABASE_URL"


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """Yield the URL of a new, empty database; remove it afterwards, whatever happened."""
    admin = os.environ.get(BENCH_DATABASE_ENV, "").strip()
    if not admin:
        with tempfile.TemporaryDirectory(prefix=f"welfare-{label}-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    admin = _with_psycopg_driver(admin)
    name = f"welfare_bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def describe_machine(engine: Engine) -> str:
    """One line naming the machine, Python, SQLAlchemy and the database server."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            server = "SQLite " + str(conn.exec_driver_sql("select sqlite_version()").scalar())
        else:
            server = str(conn.exec_driver_sql("show server_version").scalar())
            server = f"PostgreSQL {server.split()[0]}"
    return (
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, {server}"
    )
