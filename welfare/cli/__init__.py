"""The `welfare` commands, one module per group; `init_app` attaches them all to an app."""

from __future__ import annotations

import click
from flask import Flask

from welfare.cli import audit, backup, db, demo, keys, kimchi, residents, scheduler, serve, staff

# The console script (welfare.main) and `app.test_cli_runner()` both list what is attached here.
COMMANDS: tuple[click.Command, ...] = (
    db.db,
    serve.serve,
    scheduler.scheduler,
    demo.demo,
    staff.staff,
    staff.tokens,
    audit.audit,
    backup.backup,
    keys.keys,
    residents.residents,
    kimchi.kimchi_group,
)


def init_app(app: Flask) -> None:
    """Attach the commands to the app, so `welfare` and the test runner see the same ones."""
    for command in COMMANDS:
        app.cli.add_command(command)
