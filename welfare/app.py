"""The Flask app factory: the composition root of the web service."""

from __future__ import annotations

from flask import Flask

from config import Settings
from config.logging import configure_logging
from schedulers import outbox
from welfare import api, cli, console
from welfare.crypto.keyring import Keyring
from welfare.web import (
    get_database,
    init_checkpoint_sink,
    init_database,
    init_erasure_ledger,
    init_keyring,
    init_request_lifecycle,
)


def create_app(settings: Settings | None = None, *, keyring: Keyring | None = None) -> Flask:
    """Build the app from validated settings; nothing happens at import time."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = WelfareFlask("welfare", static_folder=None)  # the console serves its own
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        TESTING=settings.env == "test",
    )
    # Korean stays readable in JSON bodies.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # DefaultJSONProvider's option
    app.extensions["welfare.settings"] = settings
    init_database(app, settings)
    init_keyring(app, settings, keyring)
    init_checkpoint_sink(app, settings)
    init_erasure_ledger(app, settings)
    # Notifications: the webhook sender when configured, else the log (schedulers/outbox.py).
    get_database(app).set_info(outbox.SENDER_INFO, outbox.sender_for(settings))
    init_request_lifecycle(app, settings)
    api.init_app(app)
    console.init_app(app)  # after the API: its error handler answers the API as before
    cli.init_app(app)
    return app


class WelfareFlask(Flask):
    """Flask whose default exception log is replaced by one that never prints the message."""

    def log_exception(self, exc_info: object) -> None:
        # welfare.api.problems logs the type and traceback; exception text may quote values.
        return
