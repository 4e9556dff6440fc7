"""Throw-away databases for benchmarks: a temporary SQLite file, or a fresh PostgreSQL database.

Set `WELFARE_BENCH_DATABASE_URL` to a PostgreSQL server URL on which the benchmark may create and
drop a database; without it, benchmarks run on a SQLite file in a temporary directory.
`welfare.scratch` makes and removes it, as it does for the test suite.
"""

from __future__ import annotations

import os
import platform
from contextlib import AbstractContextManager

import sqlalchemy
from sqlalchemy import Engine

import welfare.scratch

BENCH_DATABASE_ENV = "WELFARE_BENCH_DATABASE_URL"


def scratch_database(label: str) -> AbstractContextManager[str]:
    """A new, empty database's URL for a `with` block, removed at its end, whatever happened."""
    server = os.environ.get(BENCH_DATABASE_ENV, "").strip() or None
    return welfare.scratch.scratch_database(server, label=f"bench_{label}")


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
