"""Test databases: a fresh SQLite file or a fresh PostgreSQL database, migrated for real."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

from welfare.scratch import scratch_database

POSTGRES_ENV = "WELFARE_TEST_DATABASE_URL"


def postgres_admin_url() -> str | None:
    """The PostgreSQL server the suite runs on, or None for the SQLite leg."""
    return os.environ.get(POSTGRES_ENV, "").strip() or None


def backend() -> str:
    return "postgresql" if postgres_admin_url() else "sqlite"


def fresh_database(tmp_dir: Path, label: str = "t") -> AbstractContextManager[str]:
    """A new, empty database's URL for a `with` block, dropped at its end: a SQLite file in
    `tmp_dir`, or a PostgreSQL database when WELFARE_TEST_DATABASE_URL names a server."""
    return scratch_database(postgres_admin_url(), label=label, folder=tmp_dir)
