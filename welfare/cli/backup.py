"""`welfare backup`: consistent database backups, restores, and the erasure-ledger replay.

- SQLite (embedded): `create` copies the live database with SQLite's online backup API (never a
  copy of the live files, which could miss what is still in the WAL), while the service runs;
  `restore` copies a backup back the same way, with the service stopped.
- PostgreSQL (scaled): `create` runs `pg_dump --format=custom`; `restore` runs `pg_restore` into
  an empty database (create it first).
- Both restores then replay the erasure ledger (services/erasure_ledger.py), so nobody erased
  after the backup was taken comes back. `replay-erasures` does that alone, e.g. after a restore
  made with other tools (a provider's snapshot, point-in-time recovery).

The keyring is never part of a backup: it is backed up separately (docs/operations.md, "Backups").
`create` prints which master keys the backup needs, by id.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from services import keys as keys_service
from services import residents as residents_service
from welfare.database import PRIVATE_FILE_MODE, Database
from welfare.web import get_database, get_erasure_ledger, get_keyring

PG_BIN_DIRS = (Path("/usr/lib/postgresql"),)
BACKUP_PAGES_PER_STEP = 1024  # pages copied per step, so writers get the lock in between


@click.group()
def backup() -> None:
    """Backups: create, restore, replay the erasure ledger (docs/operations.md, "Backups")."""


@backup.command("create")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_create(file: Path) -> None:
    """Write a consistent backup of the running database to FILE (never the keyring)."""
    if file.exists():
        raise click.UsageError(f"{file} exists; choose a new file name")
    database = get_database()
    if database.dialect == "sqlite":
        pages = _sqlite_backup(_sqlite_path(database), file)
        click.echo(f"backup written: {file} ({pages} pages, SQLite online backup)")
    else:
        _run(
            [_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={file}"],
            database,
        )
        os.chmod(file, PRIVATE_FILE_MODE)
        click.echo(f"backup written: {file} (pg_dump, custom format)")
    _print_keys_needed(database)


@backup.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--yes",
    is_flag=True,
    help="SQLite: confirm that the service is stopped and its database may be replaced",
)
@with_appcontext
def backup_restore(file: Path, yes: bool) -> None:
    """Restore FILE into the configured database, then replay the erasure ledger.

    SQLite: the service must be stopped (--yes confirms it); the database file is replaced.
    PostgreSQL: the configured database must be empty (create it first); pg_restore fills it.
    """
    database = get_database()
    if database.dialect == "sqlite":
        if not yes:
            raise click.UsageError(
                "restoring replaces the database file: stop the service, then pass --yes"
            )
        target = _sqlite_path(database)
        database.dispose()
        pages = _sqlite_backup(file, target, replace_target=True)
        click.echo(f"restored {file} into {target} ({pages} pages)")
    else:
        if inspect(database.engine).get_table_names():
            raise click.UsageError(
                "the configured database is not empty: restore into a new, empty database "
                "(createdb), then point WELFARE_DATABASE_URL at it"
            )
        _run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", str(file)], database)
        click.echo(f"restored {file} (pg_restore)")
    database.dispose()  # connections opened before the restore saw another database
    _replay(database)
    click.echo(
        "the access records are those of the backup: `welfare audit verify` will report the "
        "chains as rolled back (or rebuilt) against the checkpoints taken since. Keep that "
        "report, move the checkpoint sink's files aside as evidence, and the next checkpoint "
        "run starts a fresh one (docs/operations.md, 'Backups')."
    )


@backup.command("replay-erasures")
@with_appcontext
def backup_replay_erasures() -> None:
    """Erase again everyone the erasure ledger names who is not erased in this database."""
    _replay(get_database())


def _replay(database: Database) -> None:
    ledger = get_erasure_ledger()
    if ledger is None:
        click.echo(
            "welfare: no erasure ledger is configured (WELFARE_ERASURE_LEDGER): residents "
            "erased after the backup was taken are NOT erased in this copy",
            err=True,
        )
        sys.exit(1)
    reading = ledger.read(get_keyring().audit_key)
    with database.new_session() as session:
        report = residents_service.replay_erasures(session, reading.entries, now=datetime.now(UTC))
    click.echo(
        f"erasure ledger ({ledger.description}): {len(reading.entries)} erasures; "
        f"{len(report.erased)} erased again, {report.already_erased} already erased, "
        f"{report.absent} not in this database"
    )
    for problem in reading.problems:
        click.echo(f"erasure ledger: {problem}", err=True)
    if reading.problems:
        sys.exit(1)


def _print_keys_needed(database: Database) -> None:
    with database.new_session() as session:
        needed = sorted(keys_service.data_key_dependents(session))
        session.rollback()
    click.echo(
        "the keyring is not in the backup; restoring it needs the master keys "
        + (", ".join(needed) if needed else "(none yet)")
        + " from the keyring backed up separately"
    )


def _sqlite_path(database: Database) -> Path:
    name = make_url(database.url).database
    if not name or name == ":memory:":
        raise click.UsageError("the configured SQLite database is in memory: nothing to back up")
    return Path(name)


def _sqlite_backup(source: Path, target: Path, *, replace_target: bool = False) -> int:
    """Copy `source` into `target` page by page with SQLite's backup API; a new target file is
    created 0600 first. Returns the number of pages copied."""
    if not replace_target:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        os.close(fd)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=BACKUP_PAGES_PER_STEP)
        pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
        if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise click.ClickException(f"{target} failed SQLite's integrity check")
    finally:
        dst.close()
        src.close()
    return pages


def _pg_tool(name: str) -> str:
    """The newest installed PostgreSQL client tool `name` (Debian's versioned directories
    first, as /usr/bin may hold a wrapper that picks an older version), else PATH."""
    for root in PG_BIN_DIRS:
        versions = sorted(
            (p for p in root.glob("*/bin") if (p / name).is_file()),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        )
        if versions:
            return str(versions[-1] / name)
    found = shutil.which(name)
    if found is None:
        raise click.ClickException(f"{name} is not installed (PostgreSQL client tools)")
    return found


def _run(command: list[str], database: Database) -> None:
    """Run a PostgreSQL tool against the database; the password goes through the environment,
    never the command line (which other accounts may see)."""
    url = make_url(database.url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    result = subprocess.run(  # noqa: S603 - a fixed tool with our own arguments
        [*command, f"--dbname={dsn}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise click.ClickException(
            f"{Path(command[0]).name} failed (exit {result.returncode}): "
            + result.stderr.strip()[-500:]
        )
