"""`welfare residents import`: register residents in bulk from a CSV file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from services import resident_import as import_service
from welfare.cli import bulk


@click.group()
def residents() -> None:
    """The resident registry."""


@residents.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing")
@click.option(
    "--as", "username", default=None, help="Import as this staff member (default: system)"
)
@click.option(
    "--batch",
    "batch_size",
    default=import_service.DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Residents per transaction",
)
@click.option(
    "--jobs",
    default=None,
    type=click.IntRange(1, 64),
    help="Processes that check and seal rows while this one writes "
    "(default: the CPUs this process may use; 1 does everything in one process)",
)
@with_appcontext
def residents_import(
    file: Path, dry_run: bool, username: str | None, batch_size: int, jobs: int | None
) -> None:
    """Register residents from FILE (CSV: name,rrn,dong,phone,address,household_type).

    Bad rows are reported by line number and reason and skipped; residents already registered
    are skipped, so running a file again is safe. Exits 1 when any row was bad.
    """
    rows = bulk.read_csv(file, import_service.read_csv)
    summary = bulk.run_with_progress(
        label="importing residents",
        length=len(rows),
        username=username,
        work=lambda session, actor, on_progress: import_service.import_residents(
            session,
            actor=actor,
            rows=rows,
            now=datetime.now(UTC),
            dry_run=dry_run,
            batch_size=batch_size,
            on_progress=on_progress,
            jobs=import_service.default_jobs() if jobs is None else jobs,
        ),
    )
    verb = "would import" if dry_run else "imported"
    bulk.report(
        summary.bad,
        f"{verb} {summary.imported:,}, skipped as already registered "
        f"{summary.already_registered:,}, bad rows {len(summary.bad):,} (of {summary.rows:,} rows)",
        dry_run=dry_run,
    )
