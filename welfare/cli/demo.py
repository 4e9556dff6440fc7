"""`welfare demo seed`: a fictional district for trying the system."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from services import demo as demo_service
from welfare.crypto.passwords import make_hasher
from welfare.web import get_database, get_settings


@click.group()
def demo() -> None:
    """A fictional district for trying the system."""


@demo.command("seed")
@with_appcontext
def demo_seed() -> None:
    """Fill the database with a realistic fictional district (once; re-running is safe)."""
    settings = get_settings()
    if settings.is_production:
        click.echo("welfare: demo seed never runs in production (fictional residents)", err=True)
        sys.exit(2)
    with get_database().new_session() as session:
        district = demo_service.seed_demo_district(
            session, hasher=make_hasher(settings.argon2_profile)
        )
    if district is None:
        click.echo("demo district already seeded; nothing to do")
        return
    click.echo("demo district seeded: " + ", ".join(f"{k}={v}" for k, v in district.counts.items()))
    for kind, breakdown in district.details.items():
        click.echo(f"  {kind}: " + ", ".join(f"{k}={v}" for k, v in breakdown.items()))
    if district.accounts and district.password:
        # Shown once, here: only the Argon2 hashes are stored.
        click.echo("")
        click.echo("DEMO CREDENTIALS (fictional district, not for real data; shown only once):")
        for account in district.accounts:
            scope = ", ".join(account.dongs) if len(account.dongs) < 4 else "all dongs"
            click.echo(f"  {account.username:<26} {account.role:<11} {scope}")
        click.echo(f"  password for all of them: {district.password}")
