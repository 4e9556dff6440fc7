"""`welfare kimchi import`: allocate a campaign's boxes from an agency's spreadsheet."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from services import kimchi
from welfare.cli import bulk


@click.group("kimchi")
def kimchi_group() -> None:
    """Kimchi delivery campaigns."""


@kimchi_group.command("import")
@click.argument("campaign_id", type=click.UUID)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agency", required=True, help="The allocating agency, e.g. 가산종합사회복지관")
@click.option("--dry-run", is_flag=True, help="Check and report; write nothing")
@click.option(
    "--as", "username", default=None, help="Allocate as this staff member (default: system)"
)
@click.option(
    "--batch",
    "batch_size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Lines per transaction",
)
@with_appcontext
def kimchi_import(  # noqa: PLR0917 - click passes each parameter by position
    campaign_id: uuid.UUID,
    file: Path,
    agency: str,
    dry_run: bool,
    username: str | None,
    batch_size: int,
) -> None:
    """Allocate the residents listed in FILE (CSV with a column `rrn`, optionally `boxes`) to
    CAMPAIGN_ID for an agency.

    Residents are matched by RRN through the blind index. Each line skipped is reported by
    number and reason (unknown resident, household already allocated and by which agency, out
    of stock); running the same file again changes nothing. Exits 1 when a line was skipped.
    """
    lines = bulk.read_csv(file, kimchi.read_allocation_csv)
    result = bulk.run_with_progress(
        label="allocating",
        length=len(lines),
        username=username,
        work=lambda session, actor, on_progress: kimchi.import_allocations(
            session,
            actor=actor,
            campaign_id=campaign_id,
            agency=agency,
            lines=lines,
            now=datetime.now(UTC),
            dry_run=dry_run,
            batch_size=batch_size,
            on_progress=on_progress,
        ),
    )
    verb = "would allocate" if dry_run else "allocated"
    bulk.report(
        result.skipped,
        f"{verb} {result.allocated:,}, skipped {len(result.skipped):,} (of {result.rows:,} lines)",
        dry_run=dry_run,
    )
