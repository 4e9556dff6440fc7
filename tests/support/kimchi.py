"""Helpers that run a kimchi campaign through the real API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.casework import register
from tests.support.staff import GASAN


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def campaign(supervisor: Any, box_count: int = 10, **overrides: Any) -> dict[str, Any]:
    start = datetime.now(UTC).date() - timedelta(days=3)
    response = supervisor.post(
        "/api/v1/kimchi/campaigns",
        json={
            "name": "2026 김장 나눔",
            "starts_on": start.isoformat(),
            "ends_on": (start + timedelta(days=30)).isoformat(),
            "box_count": box_count,
            **overrides,
        },
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def resident(client: Any, address: str | None = None, dong: str = GASAN) -> str:
    extra = {"address": address} if address is not None else {}
    return str(register(client, dong, **extra)["id"])


def allocate(
    client: Any, campaign_id: str, resident_id: str, agency: str = "가산동 주민센터"
) -> Any:
    return client.post(
        f"/api/v1/kimchi/campaigns/{campaign_id}/allocations",
        json={"resident_id": resident_id, "agency": agency},
    )


def allocated(client: Any, campaign_id: str, resident_id: str, **kwargs: Any) -> dict[str, Any]:
    response = allocate(client, campaign_id, resident_id, **kwargs)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())
