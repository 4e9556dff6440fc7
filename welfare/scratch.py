"""Throw-away databases for tests and benchmarks: a fresh SQLite file or PostgreSQL database.

The service never calls this; the test suite and `bench/` do, each naming the server from its own
environment variable. The database is empty: callers migrate it (`welfare.migrate.upgrade`).
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config.settings import with_psycopg_driver

# The label becomes part of a quoted SQL identifier and a file name: keep it plain.
_LABEL = re.compile(r"[a-z][a-z0-9_]*")


@contextmanager
def scratch_database(
    server_url: str | None, *, label: str, folder: Path | None = None
) -> Iterator[str]:
    """Yield the URL of a new, empty database; remove it afterwards, whatever happened.

    With `server_url` (a PostgreSQL server where databases may be created, e.g.
    `postgresql://postgres@127.0.0.1:5432/test`), a database `welfare_<label>_<pid>_<random>` is
    created there and dropped with FORCE at the end; the URL yielded uses the psycopg 3 driver.
    Without it, a SQLite file: in `folder` when given (the caller owns the folder and its
    cleanup), else in a temporary directory removed at the end.
    """
    if not _LABEL.fullmatch(label):
        raise ValueError(f"label {label!r} must be lower-case letters, digits and underscores")
    suffix = uuid.uuid4().hex[:8]
    if not server_url:
        if folder is not None:
            yield f"sqlite:///{folder / f'{label}-{suffix}.db'}"
            return
        with tempfile.TemporaryDirectory(
            prefix=f"welfare_{label}_", ignore_cleanup_errors=True
        ) as tmp:
            yield f"sqlite:///{Path(tmp) / f'{label}.db'}"
        return
    admin_url = with_psycopg_driver(server_url)
    name = f"welfare_{label}_{os.getpid()}_{suffix}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
