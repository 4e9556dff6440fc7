"""`welfare db`: migrate the configured database up or down, and start the audit chains."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from services import audit as audit_service
from welfare.database import Database
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

    database = get_database()
    upgrade(database.engine, revision)
    click.echo(f"database at {revision}")
    if revision == "head":
        start_audit_chains(database)


def start_audit_chains(database: Database) -> None:
    """Write each audit chain's keyed genesis if it has none yet (a migration cannot: it never
    holds the key); exit 1, starting nothing, when a chain's head was reset in front of its
    records."""
    try:
        with database.transaction() as session:
            heads = audit_service.start_chains(session)
    except audit_service.AuditChainBroken as exc:
        click.echo(f"welfare: audit chains: {exc}", err=True)
        sys.exit(1)
    started = ", ".join(
        f"{chain.label} since "
        + (head.started_at.isoformat() if head.started_at else "an unrecorded time")
        for chain, head in heads.items()
    )
    click.echo(f"audit chains started: {started}")


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (e.g. `base`)."""

    downgrade(get_database().engine, revision)
    click.echo(f"database at {revision}")
