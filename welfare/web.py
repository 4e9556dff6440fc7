"""Per-app and per-request plumbing: settings, database session, keyring, request id, headers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import cast

from flask import Flask, Response, abort, current_app, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from config import Settings
from config.logging import set_request_id_provider
from services import vault
from services.audit.checkpoints import SINK_INFO, CheckpointSink
from services.audit.sinks import sink_for
from services.erasure_ledger import LEDGER_INFO, ErasureLedger, ledger_for
from welfare import metrics
from welfare.crypto.keyring import (
    Keyring,
    KeyringError,
    KeyringFile,
    load_keyring,
    load_or_generate_development_keyring,
)
from welfare.database import KEYRING_SOURCE_INFO, PRIVATE_DIR_MODE, Database

log = logging.getLogger("welfare.http")

KEYRING_CHECK_SECONDS = 1.0  # how stale a web node's keyring may be after `welfare keys rotate`
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_JSON_MIMETYPE = re.compile(r"^application/(?:[a-z0-9.+-]+\+)?json$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_settings(app: Flask | None = None) -> Settings:
    return cast(Settings, (app or current_app).extensions["welfare.settings"])


def get_database(app: Flask | None = None) -> Database:
    return cast(Database, (app or current_app).extensions["welfare.database"])


def get_keyring(app: Flask | None = None) -> Keyring:
    return cast(Keyring, (app or current_app).extensions["welfare.keyring"])


def now() -> datetime:
    """The app's clock (replaceable in tests to drive session timeouts)."""
    clock = current_app.extensions.get("welfare.clock")
    return clock() if clock is not None else datetime.now(UTC)


def db_session() -> Session:
    """The session of the current request, opened on first use and closed at teardown."""
    if "welfare_session" not in g:
        g.welfare_session = get_database().new_session()
    return cast(Session, g.welfare_session)


def request_id() -> str | None:
    if has_request_context():
        return cast(str | None, g.get("request_id"))
    return None


def init_database(app: Flask, settings: Settings) -> Database:
    if settings.is_sqlite and settings.database_url.startswith("sqlite:///"):
        # The data dir holds the database and (in development) the keyring: owner only.
        settings.data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    database = Database(settings.database_url)
    app.extensions["welfare.database"] = database

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("welfare_session", None)
        if session is not None:
            try:
                session.rollback()  # anything a use case did not commit is discarded
                session.close()
            except SQLAlchemyError:
                # The connection died with the request (a database restart): nothing to keep.
                session.invalidate()

    return database


def init_keyring(app: Flask, settings: Settings, keyring: Keyring | None = None) -> Keyring:
    """Load the keyring; development generates one on first start, production never does."""
    if keyring is None:
        if settings.is_production:
            keyring = load_keyring(settings.keyring_file)
            if keyring.generated_for_development:
                raise KeyringError(
                    f"{settings.keyring_file} is a generated development keyring; production "
                    "needs a keyring made for it (WELFARE_KEYRING_FILE)."
                )
        else:
            keyring, created = load_or_generate_development_keyring(settings.keyring_file)
            if created:
                log.warning(
                    "generated a DEVELOPMENT keyring; never use it for real resident data",
                    extra={"path": str(settings.keyring_file)},
                )
        # Loaded from the file: watch it, so a rotation reaches this process without a restart.
        app.extensions["welfare.keyring_file"] = KeyringFile(
            settings.keyring_file, keyring, interval=KEYRING_CHECK_SECONDS
        )
        get_database(app).set_info(KEYRING_SOURCE_INFO, lambda: refresh_keyring(app, force=True))
    app.extensions["welfare.keyring"] = keyring
    get_database(app).set_keyring(keyring)
    return keyring


def refresh_keyring(app: Flask, *, force: bool = False) -> Keyring:
    """The keyring to use now: the watched keyring file's, picked up when it changed (at most
    one stat per `KEYRING_CHECK_SECONDS`, or now with `force`); cached data keys are dropped
    then, so a retired key stops working at once."""
    watcher: KeyringFile | None = app.extensions.get("welfare.keyring_file")
    if watcher is None:
        return get_keyring(app)
    keyring, changed = watcher.current(force=force)
    if changed:
        use_keyring(app, keyring)
        vault.forget_cached_keys()
        log.info(
            "keyring picked up",
            extra={"generation": watcher.generation, "active_key": keyring.active.id},
        )
    return keyring


def get_checkpoint_sink(app: Flask | None = None) -> CheckpointSink | None:
    return cast(CheckpointSink | None, (app or current_app).extensions["welfare.checkpoint_sink"])


def init_checkpoint_sink(app: Flask, settings: Settings) -> CheckpointSink | None:
    """The store outside the database where signed audit checkpoints go (docs/operations.md);
    sessions carry it so the checkpoint job finds it. Nothing is opened until it is used."""
    sink = sink_for(settings.audit_checkpoint_sink)
    app.extensions["welfare.checkpoint_sink"] = sink
    get_database(app).set_info(SINK_INFO, sink)
    if sink is None:
        log.warning(
            "no audit checkpoint sink is configured: a replayed chain head goes unnoticed "
            "(set WELFARE_AUDIT_CHECKPOINT_DIR or WELFARE_AUDIT_CHECKPOINT_SYSLOG)"
        )
    return sink


def init_erasure_ledger(app: Flask, settings: Settings) -> ErasureLedger | None:
    """The ledger outside the database where every erasure is recorded (docs/operations.md,
    "Backups"); sessions carry it so the erasure use case finds it."""
    ledger = ledger_for(settings.erasure_ledger_path)
    app.extensions["welfare.erasure_ledger"] = ledger
    get_database(app).set_info(LEDGER_INFO, ledger)
    if ledger is None:
        log.warning(
            "no erasure ledger is configured: restoring a backup would bring erased residents "
            "back (set WELFARE_ERASURE_LEDGER)"
        )
    return ledger


def get_erasure_ledger(app: Flask | None = None) -> ErasureLedger | None:
    return cast(ErasureLedger | None, (app or current_app).extensions["welfare.erasure_ledger"])


def use_keyring(app: Flask, keyring: Keyring) -> None:
    """Make `keyring` the app's from now on (after a command rewrote the keyring file).

    Sessions opened afterwards carry it; callers also drop cached data keys
    (`services.vault.forget_cached_keys`), so a retired key stops working at once.
    """
    app.extensions["welfare.keyring"] = keyring
    get_database(app).set_keyring(keyring)


def init_request_lifecycle(app: Flask, settings: Settings) -> None:
    set_request_id_provider(request_id)
    hsts = not settings.is_development

    @app.before_request
    def start_request() -> None:
        refresh_keyring(app)
        inbound = request.headers.get("X-Request-ID", "")
        g.request_id = inbound if _REQUEST_ID.match(inbound) else uuid.uuid4().hex
        g.started = time.perf_counter()
        if request.method in _BODY_METHODS and request.path.startswith("/api/"):
            length = request.content_length
            if length is not None and length > settings.max_body_bytes:
                abort(413)
            has_body = (length or 0) > 0 or "chunked" in request.headers.get(
                "Transfer-Encoding", ""
            )
            if has_body and not _JSON_MIMETYPE.match(request.mimetype or ""):
                abort(415)

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.path.startswith("/api/v1/docs"):
            # The docs page runs Swagger UI from our own static files plus its inline config.
            headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            )
        else:
            headers.setdefault(
                "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
            )
        if not request.path.startswith("/api/v1/docs") and not g.get("cacheable"):
            # Responses may hold personal data: no browser or proxy may keep them (only the
            # console's own static files, which hold none, are cacheable).
            headers["Cache-Control"] = "no-store"
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        started = g.get("started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        if started:
            # The rule pattern (a route template), never the path: ids stay out of labels.
            metrics.observe_request(
                request.method,
                request.url_rule.rule if request.url_rule else None,
                response.status_code,
                time.perf_counter() - started,
            )
        # The rule pattern, never the query string: filters could carry search terms.
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": request.url_rule.rule if request.url_rule else None,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "staff_id": g.get("staff_id"),
            },
        )
        return response
