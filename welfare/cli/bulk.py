"""What the bulk commands (`welfare residents import`, `welfare kimchi import`) share: reading
the CSV file, running the import as one staff member under a progress bar, and reporting each
line skipped by number and reason.

Exit statuses: 2 when the file or the staff member is wrong (nothing was read or written), 1
when a line was skipped or a domain rule refused the run, 0 otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, Protocol, TextIO, TypeVar

import click
from sqlalchemy.orm import Session

from services import resident_import as import_service
from welfare.cli.errors import fail
from welfare.errors import DomainError
from welfare.models import Actor
from welfare.web import get_database

T = TypeVar("T")


class LineProblem(Protocol):
    """A line the import skipped: its number in the file and why."""

    @property
    def line(self) -> int: ...

    @property
    def reason(self) -> str: ...


def _stop(message: str) -> NoReturn:
    click.echo(f"welfare: {message}", err=True)
    sys.exit(2)


def read_csv(file: Path, reader: Callable[[TextIO], list[T]]) -> list[T]:
    """The file's lines through `reader`; a malformed file stops the command (exit 2)."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            return reader(stream)
    except import_service.CsvFormatError as exc:
        _stop(f"{file.name}: {exc.detail}")


def run_with_progress(
    *,
    label: str,
    length: int,
    username: str | None,
    work: Callable[[Session, Actor, Callable[[int], None]], T],
) -> T:
    """Run `work(session, actor, on_progress)` as the importing staff member (or the system)
    under a progress bar of `length` lines."""
    try:
        with get_database().new_session() as session:
            actor = import_service.importing_actor(session, username=username)
            with click.progressbar(length=length, label=label) as bar:
                return work(session, actor, bar.update)
    except import_service.NotResidentDataStaff as exc:
        _stop(f"{exc.username} does not work with resident data")
    except DomainError as exc:
        fail(exc)


def report(problems: Sequence[LineProblem], summary: str, *, dry_run: bool) -> None:
    """Each skipped line by number and reason, then the summary; exit 1 when a line was
    skipped."""
    for problem in problems:
        click.echo(f"line {problem.line}: {problem.reason}")
    click.echo(
        ("dry run: " if dry_run else "") + summary + ("; nothing was written" if dry_run else "")
    )
    if problems:
        sys.exit(1)
