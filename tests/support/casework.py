"""Helpers that register residents and open cases and care requests through the real API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.staff import GASAN

_serial = iter(range(1, 1_000_000))


LEGACY_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def with_check_digit(first_twelve: str) -> str:
    """The RRN whose legacy check digit holds (as for everyone born before October 2020)."""
    total = sum(w * int(d) for w, d in zip(LEGACY_WEIGHTS, first_twelve, strict=True))
    digits = first_twelve + str((11 - total % 11) % 10)
    return f"{digits[:6]}-{digits[6:]}"


def unique_rrn() -> str:
    """A valid, never-repeated RRN of someone born in the 1950s to 1980s, check digit holding."""
    n = next(_serial)
    year = 50 + n % 40
    month = n % 12 + 1
    day = n % 28 + 1
    return with_check_digit(f"{year:02d}{month:02d}{day:02d}{1 + n % 2}{n % 100_000:05d}")


def register(client: Any, dong: str = GASAN, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/residents",
        json={"name": "이순자", "rrn": unique_rrn(), "dong": dong, **overrides},
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def open_case(client: Any, resident_id: str, program: str = "care_center", **extra: Any) -> Any:
    return client.post(
        "/api/v1/cases", json={"resident_id": resident_id, "program": program, **extra}
    )


def consent(**overrides: Any) -> dict[str, Any]:
    given = datetime.now(UTC) - timedelta(hours=1)
    return {
        "given_by": "본인",
        "given_at": given.isoformat(),
        "scope": "이동지원센터에 연락처와 보행 상태 제공",
        **overrides,
    }


def care_request(client: Any, dong: str = GASAN, **overrides: Any) -> Any:
    return client.post(
        "/api/v1/care-requests",
        json={
            "dong": dong,
            "care_type": "elder_care",
            "urgency": "emergency",
            "summary": "어르신이 쓰러졌다는 이웃의 신고",
            "caller_name": "이웃 김씨",
            "caller_phone": "010-3456-7890",
            **overrides,
        },
    )


def raise_lapse(app: Any, client: Any, dong: str = GASAN) -> str:
    """A resident of `dong` enrolled in Ongi 25 hours ago at high risk and never contacted,
    raised as a `contact_lapsed` follow-up by a real tick; returns the follow-up id."""
    from schedulers.followups import run_followups
    from schedulers.registry import Job
    from schedulers.runner import run_job
    from welfare.web import get_database

    now = datetime.now(UTC)
    resident = register(client, dong)["id"]
    enrolled = client.post(
        "/api/v1/ongi/enrollments",
        json={
            "resident_id": resident,
            "risk_level": "high",
            "enrolled_at": (now - timedelta(hours=25)).isoformat(),
        },
    )
    assert enrolled.status_code == 201, enrolled.get_json()
    result = run_job(get_database(app), Job("followups", run_followups), as_of=now)
    assert result.status == "succeeded"
    items = client.get("/api/v1/followups", query_string={"limit": 200}).get_json()["items"]
    (followup,) = [i["id"] for i in items if i["resident_id"] == resident]
    return str(followup)
