"""Helpers that make records of the district plan's other services (counselor dispatch, hygiene
visits, partner referrals, gateway incidents) through the real API or use cases, on the real
clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from services import followups, gateway_silence
from services.followups import Raise
from tests.support.staff import GASAN, make_staff
from welfare.web import get_database


def on_duty(supervisor: Any, staff_id: uuid.UUID, dong: str = GASAN) -> None:
    """Put a counselor of the dong on duty for the next eight hours."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    shift = supervisor.post(
        "/api/v1/duty-shifts",
        json={
            "dong": dong,
            "staff_id": str(staff_id),
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=8)).isoformat(),
        },
    )
    assert shift.status_code == 201, shift.get_json()


def dispatch_request(client: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "dong": GASAN,
        "urgency": "urgent",
        "requester_kind": "dong_center",
        "summary": "이웃이 며칠째 인기척이 없다고 신고",
        **overrides,
    }
    response = client.post("/api/v1/dispatches", json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def hygiene_enrollment(client: Any, resident_id: str) -> dict[str, Any]:
    """Daily visits from an hour ago: the first one is due now."""
    response = client.post(
        "/api/v1/hygiene/enrollments",
        json={
            "resident_id": resident_id,
            "provider": "hygiene_care_provider",
            "services": ["bathing", "health_check"],
            "rrule": "FREQ=DAILY",
            "dtstart": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        },
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def first_visit(client: Any, enrollment_id: str) -> dict[str, Any]:
    items = client.get("/api/v1/hygiene/visits").get_json()["items"]
    return dict(min((v for v in items if v["enrollment_id"] == enrollment_id), key=_when))


def _when(visit: dict[str, Any]) -> str:
    return str(visit["scheduled_at"])


def external_referral(client: Any, resident_id: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/residents/{resident_id}/external-referrals",
        json={
            "partner": "welfare_foundation",
            "reason": "긴급 생계비 지원 연계",
            "consent": {
                "given_by": "본인",
                "given_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                "scope": "contact",
            },
        },
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def raise_gateway_incident(
    session: Session, gateway_id: uuid.UUID, dong: str, dependents: int, now: datetime
) -> None:
    """A silent gateway's incident, raised as the tick raises it (not committed)."""
    followups.raise_many(
        session,
        [
            Raise(
                subject_type="gateway",
                subject_id=gateway_id,
                resident_id=None,
                dong_code=None,
                program="system",
                reason="gateway_silent",
                risk_level=None,
                due_at=now,
                evidence={"dependents": dependents, "dongs": [dong]},
            )
        ],
        as_of=now,
        run_id=None,
        calendar=followups.business_calendar(session),
    )


def gateway_incident(app: Flask, dong: str = GASAN, name: str = "AI 안부전화 회선") -> str:
    """A silent gateway of `dong`'s incident, raised as the tick raises it."""
    gateway = make_staff(app, "gateway", (dong,), display_name=name)
    with get_database(app).new_session() as s:
        raise_gateway_incident(s, gateway.id, dong, 12, datetime.now(UTC))
        s.commit()
        return str(gateway_silence.live_incidents(s, [gateway.id])[0].id)
