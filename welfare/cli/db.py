"""`welfare db`: migrate the configured database up or down, and start the audit chains."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from services import audit as audit_service
from welfare.database import Database
from welfare.migrate import downgrade, upgrade
from welfare.models import AuditChain
from welfare.web import get_checkpoint_sink, get_database


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
        start_audit_chains(database, get_checkpoint_sink())


def start_audit_chains(database: Database, sink: audit_service.CheckpointSink | None) -> None:
    """Write each audit chain's keyed genesis if it has none yet (a migration cannot: it never
    holds the key) and checkpoint the chains to the sink outside the database.

    Exits 1, starting nothing, when a chain's head was reset: in front of its records, or while
    the sink holds checkpoints of that chain. A deliberately new database next to an old sink
    needs the old sink moved aside first (docs/operations.md).
    """
    try:
        if sink is None:
            with database.transaction() as session:
                audit_service.start_chains(session)
        else:
            # The first run starts any unkeyed chain once the sink knows nothing of it; the
            # second writes the started heads, now committed, to the sink.
            with database.transaction() as session:
                audit_service.ship_checkpoints(session, sink)
            with database.transaction() as session:
                audit_service.ship_checkpoints(session, sink)
        with database.snapshot() as session:
            heads = {chain: audit_service.read_head(session, chain) for chain in AuditChain}
    except (
        audit_service.AuditChainBroken,
        audit_service.CheckpointRefused,
        audit_service.CheckpointSinkError,
    ) as exc:
        click.echo(f"welfare: audit chains: {exc}", err=True)
        sys.exit(1)
    started = ", ".join(
        f"{chain.label} since "
        + (head.started_at.isoformat() if head and head.started_at else "an unrecorded time")
        for chain, head in heads.items()
    )
    click.echo(f"audit chains started: {started}")
    click.echo(
        f"audit checkpoints: {sink.description}"
        if sink is not None
        else "audit checkpoints: no sink configured (WELFARE_AUDIT_CHECKPOINT_*)"
    )


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (e.g. `base`)."""

    downgrade(get_database().engine, revision)
    click.echo(f"database at {revision}")
