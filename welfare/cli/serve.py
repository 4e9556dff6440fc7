"""`welfare serve`: the embedded mode, API and schedulers in one process."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import waitress
from flask import current_app
from flask.cli import with_appcontext

from schedulers import registry
from schedulers.runner import SchedulerLoop
from welfare.cli.db import start_audit_chains
from welfare.migrate import upgrade
from welfare.web import get_checkpoint_sink, get_database, get_settings, refresh_keyring


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve only; run the jobs elsewhere.")
@with_appcontext
def serve(host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Embedded mode: migrate, serve the API and run the schedulers in one process."""
    # waitress answers from its own threads, outside this app context: it needs the app itself.
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy typed as Flask
    database = get_database()
    upgrade(database.engine)
    start_audit_chains(database, get_checkpoint_sink())
    loop = None
    app.extensions["welfare.started_at"] = datetime.now(UTC)
    if not no_scheduler:
        loop = SchedulerLoop(
            database,
            jobs=registry.configured(get_settings()),
            poll=get_settings().scheduler_interval / 6,
            before_each=lambda: refresh_keyring(app),
        )
        loop.start_thread()
        app.extensions["welfare.scheduler_embedded"] = True
    click.echo(
        f"Geumcheon Welfare serving on http://{host}:{port} "
        f"(docs: http://{host}:{port}/api/v1/docs; scheduler "
        f"{'off' if no_scheduler else 'on'}; env {get_settings().env})"
    )
    try:
        waitress.serve(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="welfare",
            clear_untrusted_proxy_headers=True,
        )
    finally:
        if loop is not None:
            loop.stop()
