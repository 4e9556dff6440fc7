"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from services import scheduler_runs
from welfare.api.policy import public
from welfare.database import Database, database_now
from welfare.migrate import current_revision, head_revision
from welfare.web import get_checkpoint_sink, get_database, get_keyring, get_settings

CHECKPOINT_JOB = "audit_checkpoint"

blp = Blueprint("health", __name__)


@blp.get("/healthz")
@public
def healthz() -> Any:
    """The process is up; says nothing about its dependencies."""
    return jsonify(status="ok")


@blp.get("/readyz")
@public
def readyz() -> Any:
    """Ready when the database answers at the migration head and the keys are loaded."""
    checks: dict[str, dict[str, Any]] = {}
    database = get_database()
    try:
        with database.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            conn.execute(text("SELECT 1"))
            current = current_revision(conn)
        checks["database"] = {"ok": True}
        head = head_revision()
        checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
    try:
        keyring = get_keyring()
        checks["keys"] = {"ok": True, "active_key": keyring.active.id}
    except Exception as exc:
        checks["keys"] = {"ok": False, "error": type(exc).__name__}
    checks["scheduler"] = _scheduler_check(database)
    checks["audit_checkpoints"] = _checkpoint_check(database)
    ready = all(check["ok"] for check in checks.values())
    response = jsonify(status="ready" if ready else "not_ready", checks=checks)
    response.status_code = 200 if ready else 503
    if not checks["database"]["ok"]:
        response.headers["Retry-After"] = "5"
    return response


def _scheduler_check(database: Database) -> dict[str, Any]:
    """The last successful follow-up tick. A stale one fails readiness only where this process
    runs the scheduler (embedded mode); web nodes of a cluster report it without failing."""
    settings = get_settings()
    embedded = bool(current_app.extensions.get("welfare.scheduler_embedded"))
    try:
        with database.new_session() as session:
            last = scheduler_runs.last_finished(session, "followups")
            now = database_now(session)
    except Exception as exc:
        return {"ok": not embedded, "error": type(exc).__name__}
    stale = last is None or now - last > settings.scheduler_stale_after
    if not embedded:
        ok = True
    elif last is None:
        ok = not _started_long_ago()  # give a fresh process one staleness window to tick
    else:
        ok = not stale
    return {
        "ok": ok,
        "last_success_at": last.isoformat() if last else None,
        "stale": stale,
        "embedded": embedded,
    }


def _checkpoint_check(database: Database) -> dict[str, Any]:
    """Whether the signed audit heads still reach the sink outside the database. A failed last
    run (the sink cannot be written, or the head disagrees with its latest checkpoint) fails
    readiness where this process runs the scheduler; web nodes report it without failing."""
    sink = get_checkpoint_sink()
    embedded = bool(current_app.extensions.get("welfare.scheduler_embedded"))
    try:
        with database.new_session() as session:
            last = scheduler_runs.latest_run(session, CHECKPOINT_JOB)
            succeeded = scheduler_runs.last_finished(session, CHECKPOINT_JOB)
    except Exception as exc:
        return {"ok": not embedded, "error": type(exc).__name__}
    failing = last is not None and last.status == "failed"
    return {
        "ok": not (embedded and failing),
        "sink": sink.kind if sink is not None else None,  # never its path: /readyz is public
        "failing": failing,
        **({"error": last.error} if failing and last is not None else {}),
        "last_success_at": succeeded.isoformat() if succeeded else None,
    }


def _started_long_ago() -> bool:
    started = current_app.extensions.get("welfare.started_at")
    settings = get_settings()
    return started is not None and datetime.now(UTC) - started > settings.scheduler_stale_after
