"""The checkpoint job runs on the schedule, writes to the sink, and fails loudly on a rollback."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from config import Settings
from schedulers import registry
from schedulers.audit_checkpoints import write_audit_checkpoints
from schedulers.registry import Job
from schedulers.runner import run_job
from services.audit import link_chains, record_access
from tests.support.audit import act_as_dba, remove, rewrite_head, staff_actor
from welfare.database import Database
from welfare.models import AuditChainHead, AuditEvent, SchedulerRun

JOB = Job("audit_checkpoint", write_audit_checkpoints)


def append(db: Database, count: int) -> None:
    with db.transaction() as s:
        for _ in range(count):
            record_access(s, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()])
        link_chains(s)  # what the audit_link job does within seconds


def test_the_checkpoint_job_is_on_the_schedule_every_five_minutes_unless_configured(
    settings: Settings,
) -> None:
    (job,) = [j for j in registry.SCHEDULE if j.name == "audit_checkpoint"]
    assert job.every == timedelta(minutes=5)
    faster = replace(settings, audit_checkpoint_interval=timedelta(seconds=30))
    (configured,) = [j for j in registry.configured(faster) if j.name == "audit_checkpoint"]
    assert configured.every == timedelta(seconds=30)
    assert [j.name for j in registry.configured(faster)] == [j.name for j in registry.SCHEDULE]


def test_the_job_writes_the_heads_to_the_app_s_sink(db: Database, checkpoint_file: Path) -> None:
    append(db, 2)
    result = run_job(db, JOB, coordinate=False)
    assert result.status == "succeeded", result.error
    assert result.counts["written"] == 2
    assert result.counts["access_seq"] == 2
    assert checkpoint_file.read_text(encoding="utf-8").count("\n") == 2


def test_a_rolled_back_head_fails_the_job_and_readiness_where_it_runs_embedded(
    app: Flask, db: Database, checkpoint_file: Path
) -> None:
    app.extensions["welfare.scheduler_embedded"] = True
    append(db, 3)
    with db.new_session() as s:
        old_head = s.execute(
            select(AuditChainHead.__table__).where(AuditChainHead.chain == "access")
        ).one()
    append(db, 2)
    assert run_job(db, JOB, coordinate=False).status == "succeeded"
    client = app.test_client()
    body = client.get("/readyz").get_json()
    assert body["checks"]["audit_checkpoints"]["failing"] is False
    assert body["checks"]["audit_checkpoints"]["sink"] == "file"  # never the path: public

    with db.transaction() as s:
        act_as_dba(s)
        remove(s, AuditEvent, 4, 5)
        rewrite_head(s, "access", **{k: v for k, v in old_head._mapping.items() if k != "chain"})
    written = checkpoint_file.read_bytes()
    failed = run_job(db, JOB, coordinate=False)
    assert (failed.status, failed.error) == ("failed", "CheckpointRefused")
    assert checkpoint_file.read_bytes() == written  # the sink keeps the truth
    with db.new_session() as s:
        runs = s.scalars(select(SchedulerRun.status).where(SchedulerRun.job == JOB.name)).all()
    assert sorted(runs) == ["failed", "succeeded"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    check = ready.get_json()["checks"]["audit_checkpoints"]
    assert (check["ok"], check["failing"], check["error"]) == (False, True, "CheckpointRefused")


def test_without_a_sink_the_job_says_so(app: Flask, db: Database) -> None:
    db.set_info("welfare.checkpoint_sink", None)
    result = run_job(db, JOB, coordinate=False)
    assert (result.status, result.counts) == ("succeeded", {"written": 0, "no_sink": 1})
