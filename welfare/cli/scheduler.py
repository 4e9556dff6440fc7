"""`welfare scheduler`: run the follow-up jobs once at an instant, or forever."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from schedulers import registry
from schedulers.runner import SchedulerLoop, tick
from welfare.web import get_database, get_settings, refresh_keyring


@click.group()
def scheduler() -> None:
    """Follow-up scheduler jobs."""


def _parse_instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not ISO-8601, e.g. 2026-11-24T09:00:00+09:00"
        ) from None
    if instant.tzinfo is None:
        raise click.BadParameter("give an offset, e.g. 2026-11-24T09:00:00+09:00")
    return instant.astimezone(UTC)


@scheduler.command("tick")
@click.option("--as-of", "as_of", default=None, help="ISO-8601 instant with offset (default: now)")
@with_appcontext
def scheduler_tick(as_of: str | None) -> None:
    """Run every job once at that instant; print one JSON object per job."""

    results = tick(get_database(), as_of=_parse_instant(as_of))
    for result in results:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    if not results:
        click.echo("no jobs registered", err=True)
    if any(r.status == "failed" for r in results):
        sys.exit(1)


@scheduler.command("run")
@with_appcontext
def scheduler_run() -> None:
    """Run the jobs forever on their schedule (Ctrl-C to stop)."""

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy typed as Flask
    loop = SchedulerLoop(
        get_database(),
        jobs=registry.configured(get_settings()),
        before_each=lambda: refresh_keyring(app),  # a rotated keyring, without a restart
    )
    click.echo(
        f"scheduler running as {loop.node}; jobs: {', '.join(j.name for j in loop.jobs) or 'none'}"
    )
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        loop.stop()
