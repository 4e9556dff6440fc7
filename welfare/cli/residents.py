"""`welfare residents import`: register residents in bulk from a CSV file."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from services import resident_import as import_service
from welfare.cli.errors import fail
from welfare.errors import DomainError
from welfare.web import get_database


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
@with_appcontext
def residents_import(file: Path, dry_run: bool, username: str | None, batch_size: int) -> None:
    """Register residents from FILE (CSV: name,rrn,dong,phone,address,household_type).

    Bad rows are reported by line number and reason and skipped; residents already registered
    are skipped, so running a file again is safe. Exits 1 when any row was bad.
    """
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            rows = import_service.read_csv(stream)
    except import_service.CsvFormatError as exc:
        click.echo(f"welfare: {file.name}: {exc.detail}", err=True)
        sys.exit(2)
    try:
        with get_database().new_session() as session:
            actor = import_service.importing_actor(session, username=username)
            with click.progressbar(length=len(rows), label="importing residents") as bar:
                summary = import_service.import_residents(
                    session,
                    actor=actor,
                    rows=rows,
                    now=datetime.now(UTC),
                    dry_run=dry_run,
                    batch_size=batch_size,
                    on_progress=bar.update,
                )
    except import_service.NotResidentDataStaff as exc:
        click.echo(f"welfare: {exc.username} does not work with resident data", err=True)
        sys.exit(2)
    except DomainError as exc:
        fail(exc)
    for bad in summary.bad:
        click.echo(f"line {bad.line}: {bad.reason}")
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{'dry run: ' if dry_run else ''}{verb} {summary.imported:,}, skipped as already "
        f"registered {summary.already_registered:,}, bad rows {len(summary.bad):,} "
        f"(of {summary.rows:,} rows)" + ("; nothing was written" if dry_run else "")
    )
    if summary.bad:
        sys.exit(1)
