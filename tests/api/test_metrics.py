"""`GET /metrics`: Prometheus text for operators, behind its own token, with no ids in it."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from schedulers.outbox import MAX_ATTEMPTS
from schedulers.registry import Job
from schedulers.runner import run_job
from services.audit import link_chains, record_access
from tests.support.audit import staff_actor
from tests.support.casework import register
from welfare.database import Database, database_now
from welfare.models import OutboxMessage
from welfare.web import get_settings

TOKEN = "metrics-" + "x" * 40
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


@pytest.fixture
def scraped(app: Flask) -> Flask:
    """The app with a metrics token configured, as WELFARE_METRICS_TOKEN would set it."""
    app.extensions["welfare.settings"] = replace(get_settings(app), metrics_token=TOKEN)
    return app


def scrape(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert UUID.search(text) is None  # no resident, staff or record id anywhere
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_until_a_token_is_configured(app: Flask) -> None:
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
)
def test_metrics_refuse_anyone_without_the_metrics_token(
    scraped: Flask, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = scraped.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert b"welfare_" not in response.data


def test_a_staff_session_or_api_token_is_not_the_metrics_token(
    scraped: Flask, login_as: Any
) -> None:
    assert login_as("admin").get("/metrics").status_code == 401
    gateway = login_as("gateway")
    assert gateway.get("/metrics").status_code == 401


def test_requests_are_counted_per_route_template_and_status_without_ids(
    scraped: Flask, login_as: Any
) -> None:
    client: FlaskClient = login_as("counselor")
    resident = register(client)
    template = "/api/v1/residents/<uuid:resident_id>"
    before = scrape(scraped)
    for _ in range(3):
        assert client.get(f"/api/v1/residents/{resident['id']}").status_code == 200
    assert client.get(f"/api/v1/residents/{uuid.uuid4()}").status_code == 404
    after = scrape(scraped)
    ok = {"method": "GET", "route": template, "status": "200"}
    missing = {"method": "GET", "route": template, "status": "404"}
    assert (
        value(after, "welfare_http_requests_total", **ok)
        - value(before, "welfare_http_requests_total", **ok)
        == 3
    )
    assert (
        value(after, "welfare_http_requests_total", **missing)
        - value(before, "welfare_http_requests_total", **missing)
        == 1
    )
    assert (
        value(after, "welfare_http_request_duration_seconds_count", **ok)
        - value(before, "welfare_http_request_duration_seconds_count", **ok)
        == 3
    )


def test_access_records_waiting_to_be_linked_show_with_their_age(
    scraped: Flask, db: Database
) -> None:
    with db.transaction() as s:
        now = database_now(s)
        for minutes in (3, 1):
            record_access(
                s, actor=staff_actor(), action="read", at=now - timedelta(minutes=minutes)
            )
    waiting = scrape(scraped)
    assert value(waiting, "welfare_audit_unlinked_records", chain="access") == 2
    assert value(waiting, "welfare_audit_unlinked_oldest_age_seconds", chain="access") >= 170
    with db.transaction() as s:
        link_chains(s)
    linked = scrape(scraped)
    assert value(linked, "welfare_audit_unlinked_records", chain="access") == 0
    assert value(linked, "welfare_audit_unlinked_oldest_age_seconds", chain="access") == 0


def test_the_outbox_backlog_and_its_dead_letters_are_told_apart(
    scraped: Flask, db: Database
) -> None:
    with db.transaction() as s:
        now = database_now(s)
        for n, attempts in enumerate((0, 3, MAX_ATTEMPTS)):
            s.add(
                OutboxMessage(
                    id=uuid.uuid4(),
                    idempotency_key=f"metrics-test-{n}",
                    kind="sms",
                    payload={},
                    created_at=now,
                    next_attempt_at=now,
                    attempts=attempts,
                )
            )
    samples = scrape(scraped)
    assert value(samples, "welfare_outbox_messages", state="pending") == 2
    assert value(samples, "welfare_outbox_messages", state="dead") == 1


JOB = "metrics_test_job"


def test_job_runs_are_counted_and_timed_per_job(scraped: Flask, db: Database) -> None:
    def linked_three(session: Any, as_of: Any) -> dict[str, int]:
        return {"linked": 3, "skipped": 0}

    def broken(session: Any, as_of: Any) -> dict[str, int]:
        raise RuntimeError("a job that fails")

    before = scrape(scraped)
    assert run_job(db, Job(JOB, linked_three), coordinate=False).status == ("succeeded")
    assert run_job(db, Job(JOB, broken), coordinate=False).status == "failed"
    after = scrape(scraped)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("welfare_scheduler_job_runs_total", job=JOB, status="succeeded") == 1
    assert grew("welfare_scheduler_job_runs_total", job=JOB, status="failed") == 1
    assert grew("welfare_scheduler_job_duration_seconds_count", job=JOB, status="failed") == 1
    assert grew("welfare_scheduler_job_items_total", job=JOB, count="linked") == 3


def test_the_database_pool_is_reported(scraped: Flask) -> None:
    samples = scrape(scraped)
    assert value(samples, "welfare_db_pool_size") >= 1
    assert ("welfare_db_pool_connections", (("state", "checked_out"),)) in samples


def test_a_short_metrics_token_is_refused_at_start_up() -> None:
    from config import Settings
    from config.settings import SettingsError

    with pytest.raises(SettingsError, match="WELFARE_METRICS_TOKEN"):
        Settings.from_env({"WELFARE_METRICS_TOKEN": "short"})
