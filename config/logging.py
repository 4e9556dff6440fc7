"""JSON-lines logging with the request id on every line; messages never carry personal data."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pythonjsonlogger.json import JsonFormatter

_request_id_provider: Callable[[], str | None] = lambda: None  # noqa: E731 - replaced by the app


def set_request_id_provider(provider: Callable[[], str | None]) -> None:
    """Let the web layer tell the log formatter which request is running (if any)."""
    global _request_id_provider  # noqa: PLW0603 - one process-wide hook, set once by the app
    _request_id_provider = provider


class RequestIdFilter(logging.Filter):
    """Attach the current request id so every line of one request can be found together."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id_provider()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send JSON lines to stderr; idempotent so tests and the CLI can call it repeatedly."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_welfare", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._welfare = True  # type: ignore[attr-defined]  # marks ours for the next call
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "at", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's and waitress's own access lines repeat what our request log says.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # SQL statements may carry bound personal data: never log them.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
