"""Resolving a follow-up says whether the person was reached: if so, that contact is recorded
with the resolution, so a lapse confirmed safe does not come back on the next tick."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from tests.support.casework import raise_lapse
from welfare.database import Database
from welfare.models import Contact
from welfare.web import get_database


def tick(app: Flask) -> dict[str, Any]:
    result = run_job(get_database(app), Job("followups", run_followups), as_of=datetime.now(UTC))
    assert result.status == "succeeded"
    return dict(result.counts)


@pytest.mark.parametrize("outcome", ["confirmed_safe", "hospitalized"])
def test_a_reached_outcome_records_the_contact_and_the_lapse_stays_closed(
    app: Flask, login_as: Any, db: Database, outcome: str
) -> None:
    outreach = login_as("outreach")
    fid = raise_lapse(app, login_as("counselor"))
    resolved = outreach.post(
        f"/api/v1/followups/{fid}/resolve", json={"outcome": outcome, "channel": "visit"}
    )
    assert resolved.status_code == 200, resolved.get_json()
    resident = uuid.UUID(resolved.get_json()["resident_id"])
    with db.new_session() as s:
        (contact,) = s.scalars(select(Contact).where(Contact.resident_id == resident)).all()
        assert (contact.channel, contact.outcome, contact.staff_id) == (
            "visit",
            "reached",
            outreach.staff.id,
        )
    assert tick(app)["raised"] == 0
    assert outreach.get("/api/v1/followups").get_json()["items"] == []
    history = outreach.get(f"/api/v1/followups/{fid}").get_json()["events"]
    assert history[-1]["detail"] == {
        "outcome": outcome,
        "contact_id": str(contact.id),
        "channel": "visit",
    }
    timeline = outreach.get(f"/api/v1/residents/{resident}/timeline").get_json()["items"]
    assert any(e["kind"] == "contact" and e["channel"] == "visit" for e in timeline)


@pytest.mark.parametrize("outcome", ["escalated_elsewhere", "false_alarm", "referred"])
def test_an_outcome_that_reached_nobody_records_no_contact_and_the_lapse_comes_back(
    app: Flask, login_as: Any, db: Database, outcome: str
) -> None:
    counselor = login_as("counselor")
    fid = raise_lapse(app, counselor)
    resolved = counselor.post(f"/api/v1/followups/{fid}/resolve", json={"outcome": outcome})
    assert resolved.status_code == 200
    with db.new_session() as s:
        contacts = s.scalars(
            select(Contact).where(
                Contact.resident_id == uuid.UUID(resolved.get_json()["resident_id"])
            )
        ).all()
    assert contacts == []
    assert tick(app)["raised"] == 1  # still nobody has reached them


def test_an_unknown_channel_is_refused_and_nothing_is_resolved(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor")
    fid = raise_lapse(app, counselor)
    refused = counselor.post(
        f"/api/v1/followups/{fid}/resolve", json={"outcome": "confirmed_safe", "channel": "sensor"}
    )
    assert refused.status_code == 422 and "channel" in refused.get_json()["errors"]
    assert counselor.get(f"/api/v1/followups/{fid}").get_json()["state"] == "open"
