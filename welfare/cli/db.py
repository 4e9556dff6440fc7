"""`welfare db`: migrate the configured database up or down."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from welfare.migrate import downgrade, upgrade
from welfare.web import get_database


@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the configured database (creates the SQLite file if needed)."""

    upgrade(get_database().engine, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (e.g. `base`)."""

    downgrade(get_database().engine, revision)
    click.echo(f"database at {revision}")
