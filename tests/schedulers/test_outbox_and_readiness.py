"""Notifications are delivered once with retries; a stalled embedded scheduler fails /readyz."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from schedulers import outbox
from schedulers.registry import Job
from schedulers.runner import SchedulerLoop, run_job
from welfare.database import Database
from welfare.models import OutboxMessage, SchedulerRun

AS_OF = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def queue(db: Database, key: str) -> None:
    with db.transaction() as s:
        s.add(
            OutboxMessage(
                id=uuid.uuid4(),
                idempotency_key=key,
                kind="followup_step",
                payload={"followup_id": "x", "step": 1},
                created_at=AS_OF,
                next_attempt_at=AS_OF,
                attempts=0,
            )
        )


class FlakySender:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail_next = True

    def send(self, message: OutboxMessage) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("provider down")
        self.sent.append(message.idempotency_key)


def test_a_failed_delivery_is_retried_later_and_sent_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = FlakySender()
    monkeypatch.setattr(outbox, "SENDER", sender)
    queue(db, "k1")
    job = Job("outbox", outbox.deliver_outbox)
    assert run_job(db, job, as_of=AS_OF).counts == {"delivered": 0, "failed": 1, "dead": 0}
    assert run_job(db, job, as_of=AS_OF + timedelta(seconds=10)).counts["delivered"] == 0
    assert run_job(db, job, as_of=AS_OF + timedelta(minutes=5)).counts["delivered"] == 1
    assert run_job(db, job, as_of=AS_OF + timedelta(minutes=10)).counts["delivered"] == 0
    assert sender.sent == ["k1"]
    with db.new_session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert (message.attempts, message.last_error) == (2, "ConnectionError")


def test_the_default_sender_logs_ids_only(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    queue(db, "k2")
    run_job(db, Job("outbox", outbox.deliver_outbox), as_of=AS_OF)
    (record,) = [r for r in caplog.records if r.getMessage() == "notification"]
    assert record.__dict__["payload_step"] == 1


def test_the_loop_runs_each_job_when_it_is_due(db: Database) -> None:
    calls: list[datetime] = []

    def count(_session: Any, as_of: datetime) -> dict[str, int]:
        calls.append(as_of)
        return {}

    loop = SchedulerLoop(db, jobs=[Job("count", count, every=timedelta(hours=1))])
    loop.run_pending()
    loop.run_pending()
    assert len(calls) == 1


def test_readiness_reports_the_scheduler_and_fails_when_an_embedded_one_stalls(
    app: Flask, db: Database
) -> None:
    client = app.test_client()
    body = client.get("/readyz").get_json()
    assert body["checks"]["scheduler"]["embedded"] is False
    assert client.get("/readyz").status_code == 200
    app.extensions["welfare.scheduler_embedded"] = True
    with db.transaction() as s:
        s.add(
            SchedulerRun(
                id=uuid.uuid4(),
                job="followups",
                as_of=AS_OF,
                node="n",
                started_at=AS_OF,
                finished_at=datetime.now(UTC) - timedelta(hours=2),
                status="succeeded",
                counts={},
            )
        )
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert stale.get_json()["checks"]["scheduler"]["stale"] is True
    with db.transaction() as s:
        s.add(
            SchedulerRun(
                id=uuid.uuid4(),
                job="followups",
                as_of=AS_OF,
                node="n",
                started_at=AS_OF,
                finished_at=datetime.now(UTC),
                status="succeeded",
                counts={},
            )
        )
    assert client.get("/readyz").status_code == 200
