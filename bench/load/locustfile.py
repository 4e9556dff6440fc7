"""The mixed staff + gateway workload for `bench/load/run.py` (locust, run headless).

Staff users (bearer tokens of the demo district's counselors and outreach workers) page the
follow-up queue, read residents, page residents, search by name, log contacts, claim and resolve
follow-ups; gateway users post batches of sensor and AI-call signals. Every user also calls
`GET /api/v1/auth/me` (staff only: gateways may not), the bare authenticated JSON endpoint the
report compares against. A signal batch holds one event per source of the gateway's dong, at
most 50. The
fixture file (`WELFARE_LOAD_FIXTURE`) names the tokens; residents and follow-ups are discovered
through the API at start, as a client would.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from itertools import cycle
from typing import Any

from locust import HttpUser, between, task

FIXTURE: dict[str, Any] = json.loads(
    open(os.environ["WELFARE_LOAD_FIXTURE"], encoding="utf-8").read()  # noqa: SIM115 - read once at import
)
STAFF_TOKENS = cycle(FIXTURE["staff"])
GATEWAY_TOKENS = cycle(FIXTURE["gateways"])
SIGNAL_BATCH = 50
REFERENCE = "reference: GET /api/v1/auth/me"


def now() -> str:
    return datetime.now(UTC).isoformat()


class StaffUser(HttpUser):
    """A counselor or outreach worker at work: mostly reads, some writes, and the reference."""

    weight = 3
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        account = next(STAFF_TOKENS)
        self.client.headers["Authorization"] = f"Bearer {account['token']}"
        self.dong = account["dong"]
        self.rng = random.Random()
        page = self.client.get(
            f"/api/v1/residents?dong={self.dong}&limit=100", name="GET /api/v1/residents?dong"
        ).json()
        self.residents = [(r["id"], r["name"]) for r in page.get("items", [])]

    def resident(self) -> tuple[str, str]:
        return self.rng.choice(self.residents)

    @task(4)
    def reference(self) -> None:
        self.client.get("/api/v1/auth/me", name=REFERENCE)

    @task(4)
    def queue_page(self) -> None:
        self.client.get(
            f"/api/v1/followups?dong={self.dong}&limit=50", name="GET /api/v1/followups (queue)"
        )

    @task(6)
    def read_resident(self) -> None:
        if self.residents:
            rid, _ = self.resident()
            self.client.get(f"/api/v1/residents/{rid}", name="GET /api/v1/residents/{id}")

    @task(2)
    def residents_page(self) -> None:
        self.client.get(
            f"/api/v1/residents?dong={self.dong}&limit=50", name="GET /api/v1/residents?dong"
        )

    @task(2)
    def search(self) -> None:
        if self.residents:
            _, name = self.resident()
            self.client.post(
                "/api/v1/residents/search",
                json={"name": name},
                name="POST /api/v1/residents/search",
            )

    @task(3)
    def log_contact(self) -> None:
        if self.residents:
            rid, _ = self.resident()
            self.client.post(
                "/api/v1/contacts",
                json={
                    "resident_id": rid,
                    "channel": "phone",
                    "outcome": "reached",
                    "occurred_at": now(),
                    "client_ref": f"load-{uuid.uuid4()}",
                },
                name="POST /api/v1/contacts",
            )

    @task(1)
    def claim_and_resolve(self) -> None:
        page = self.client.get(
            f"/api/v1/followups?dong={self.dong}&state=open&limit=20",
            name="GET /api/v1/followups (queue)",
        ).json()
        items = page.get("items", [])
        if not items:
            return
        followup = self.rng.choice(items)["id"]
        with self.client.post(
            f"/api/v1/followups/{followup}/claim",
            name="POST /api/v1/followups/{id}/claim",
            catch_response=True,
        ) as claimed:
            if claimed.status_code == 409:  # another user took it first: expected under load
                claimed.success()
                return
        with self.client.post(
            f"/api/v1/followups/{followup}/resolve",
            json={"outcome": "confirmed_safe"},
            name="POST /api/v1/followups/{id}/resolve",
            catch_response=True,
        ) as resolved:
            if resolved.status_code == 409:  # resolved meanwhile by someone else
                resolved.success()


class GatewayUser(HttpUser):
    """A sensor / AI-call gateway posting batches of events for its dong's sources."""

    weight = 1
    wait_time = between(0.2, 0.5)

    def on_start(self) -> None:
        gateway = next(GATEWAY_TOKENS)
        self.client.headers["Authorization"] = f"Bearer {gateway['token']}"
        self.sources = gateway["sources"]
        self.rng = random.Random()

    @task
    def signal_batch(self) -> None:
        at = datetime.now(UTC) - timedelta(seconds=5)
        batch = [
            {
                "event_id": f"load-{uuid.uuid4()}",
                "kind": source["kind"],
                "source_ref": source["source_ref"],
                "occurred_at": (at - timedelta(seconds=i)).isoformat(),
            }
            for i, source in enumerate(
                self.rng.sample(self.sources, min(SIGNAL_BATCH, len(self.sources)))
            )
        ]
        self.client.post("/api/v1/signals", json={"events": batch}, name="POST /api/v1/signals")
