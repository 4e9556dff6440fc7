"""`GET /metrics`: this node's metrics in the Prometheus text format, for operators.

Not public: it answers only a bearer token from WELFARE_METRICS_TOKEN (its own secret, not a
staff token: scrapers never log in), compared in constant time, and is absent (404) while no
token is configured. Besides the process's counters and histograms (welfare/metrics.py) each
scrape reads the state shared by all nodes: access records waiting to be linked and the age of
the oldest, the outbox backlog and its dead letters, the last run of each scheduler job, and
this process's database pool.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select
from sqlalchemy.pool import QueuePool

from schedulers import registry as job_registry
from schedulers.outbox import MAX_ATTEMPTS
from services import audit
from welfare import metrics
from welfare.api.policy import public
from welfare.database import Database, database_now
from welfare.models import AuditChain, OutboxMessage, SchedulerRun
from welfare.web import get_database, get_settings

blp = Blueprint("metrics", __name__)


@blp.get("/metrics")
@public  # no staff session: the metrics token below is its own gate
def scrape() -> Any:
    """This node's metrics (Prometheus text format); needs `Authorization: Bearer <token>`."""
    expected = get_settings().metrics_token
    if expected is None:
        abort(404)
    offered = request.headers.get("Authorization", "")
    scheme, _, token = offered.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        response = Response("metrics need the metrics token\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = generate_latest(metrics.process_registry()) + generate_latest(_shared_state())
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def _shared_state() -> CollectorRegistry:
    """Gauges read now: what every node shares (database state) and this node's pool."""
    registry = CollectorRegistry()
    database = get_database()
    unlinked = Gauge(
        "welfare_audit_unlinked_records",
        "Access records appended but not linked into their chain yet",
        ("chain",),
        registry=registry,
    )
    lag = Gauge(
        "welfare_audit_unlinked_oldest_age_seconds",
        "Age of the oldest access record waiting to be linked (the linking lag; 0 when none)",
        ("chain",),
        registry=registry,
    )
    outbox = Gauge(
        "welfare_outbox_messages",
        "Undelivered outbox messages: pending (will be retried) and dead (attempts exhausted)",
        ("state",),
        registry=registry,
    )
    last_run = Gauge(
        "welfare_scheduler_job_last_run_seconds",
        "Duration of each job's latest finished run, on whichever node ran it",
        ("job", "status"),
        registry=registry,
    )
    last_success = Gauge(
        "welfare_scheduler_job_last_success_timestamp_seconds",
        "When each job last finished successfully (Unix time), on whichever node ran it",
        ("job",),
        registry=registry,
    )
    with database.new_session() as session:
        now = database_now(session)
        for chain in AuditChain:
            waiting = audit.pending(session, chain)
            unlinked.labels(chain.value).set(waiting.count)
            lag.labels(chain.value).set(waiting.age_seconds(now))
        undelivered = OutboxMessage.delivered_at.is_(None)
        dead = OutboxMessage.attempts >= MAX_ATTEMPTS
        pending_count = session.scalar(select(func.count()).where(undelivered, ~dead)) or 0
        dead_count = session.scalar(select(func.count()).where(undelivered, dead)) or 0
        outbox.labels("pending").set(pending_count)
        outbox.labels("dead").set(dead_count)
        for job in job_registry.SCHEDULE:
            latest = session.execute(
                select(SchedulerRun.status, SchedulerRun.started_at, SchedulerRun.finished_at)
                .where(SchedulerRun.job == job.name, SchedulerRun.finished_at.is_not(None))
                .order_by(SchedulerRun.finished_at.desc())
                .limit(1)
            ).one_or_none()
            if latest is not None:
                seconds = (latest.finished_at - latest.started_at).total_seconds()
                last_run.labels(job.name, latest.status).set(max(seconds, 0.0))
            succeeded = session.scalar(
                select(func.max(SchedulerRun.finished_at)).where(
                    SchedulerRun.job == job.name, SchedulerRun.status == "succeeded"
                )
            )
            if succeeded is not None:
                last_success.labels(job.name).set(succeeded.timestamp())
    _pool_gauges(registry, database)
    return registry


def _pool_gauges(registry: CollectorRegistry, database: Database) -> None:
    pool = database.engine.pool
    connections = Gauge(
        "welfare_db_pool_connections",
        "This process's database connections: checked out (in use) and idle in the pool",
        ("state",),
        registry=registry,
    )
    size = Gauge(
        "welfare_db_pool_size",
        "This process's database pool size (without overflow)",
        registry=registry,
    )
    if isinstance(pool, QueuePool):
        connections.labels("checked_out").set(pool.checkedout())
        connections.labels("idle").set(pool.checkedin())
        size.set(pool.size())
