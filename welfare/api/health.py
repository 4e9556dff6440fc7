"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from welfare.api.policy import public
from welfare.migrate import current_revision, head_revision
from welfare.web import get_database, get_keyring

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
    ready = all(check["ok"] for check in checks.values())
    response = jsonify(status="ready" if ready else "not_ready", checks=checks)
    response.status_code = 200 if ready else 503
    return response
