"""JSON-lines logging with the request id on every line; messages never carry personal data."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from pythonjsonlogger.json import JsonFormatter

_request_id_provider: Callable[[], str | None] = lambda: None  # noqa: E731 - replaced by the app


def set_request_id_provider(provider: Callable[[], str | None]) -> None:
    """Let the web layer tell the log formatter which request is running (if any)."""
    global _request_id_provider  # noqa: PLW0603 - one process-wide hook, set once by the app
    _request_id_provider = provider


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class NoMessageJsonFormatter(JsonFormatter):
    """JSON lines whose exception part names the type and the frames, never the message: an
    exception's text may quote a value (an RRN in a ValueError, a row in an IntegrityError),
    and `log.exception` anywhere, ours or a library's, must not write it out."""

    def formatException(self, ei: ExcInfo) -> str:  # noqa: N802 - logging.Formatter's name
        exc_type, _exc, tb = ei
        frames = "".join(traceback.format_tb(tb)) if tb is not None else ""
        name = exc_type.__qualname__ if exc_type is not None else "None"
        return f"Traceback (most recent call last):\n{frames}{name} (message withheld)"


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
        NoMessageJsonFormatter(
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
