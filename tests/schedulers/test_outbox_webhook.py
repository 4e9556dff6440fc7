"""The webhook sender against a real HTTP receiver on a thread: signed POSTs with the message's
idempotency key, retries with exponential backoff when the receiver fails or times out, a receiver
that answers twice processes once, and dead letters admins can see and send back
(schedulers/outbox.py, services/outbox.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from config import Settings
from config.settings import SettingsError
from schedulers import outbox
from schedulers.registry import Job
from schedulers.runner import run_job
from services.outbox import MAX_ATTEMPTS
from welfare.database import Database
from welfare.models import OutboxMessage

AS_OF = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
SECRET = "webhook-secret-that-is-long-enough-0123"
JOB = Job("outbox", outbox.deliver_outbox)


@dataclass
class Receiver:
    """A relay: each request takes the next scripted answer ("ok", "fail", "slow", "refuse");
    it processes a key once, however often it is sent."""

    script: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        key = handler.headers["Idempotency-Key"]
        self.requests.append({"headers": dict(handler.headers), "body": body, "key": key})
        action = self.script.pop(0) if self.script else "ok"
        if action == "fail":
            handler.send_response(503)
        elif action == "refuse":
            handler.send_response(400)
        else:
            if key not in self.processed:  # dedupe on the idempotency key
                self.processed.append(key)
            if action == "slow":
                time.sleep(1.5)  # processed, but the answer comes after the sender gave up
            handler.send_response(200)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    relay = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            relay.answer(self)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    relay.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    yield relay
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook(db: Database, receiver: Receiver) -> outbox.WebhookSender:
    sender = outbox.WebhookSender(receiver.url, SECRET, timeout=0.5)
    db.set_info(outbox.SENDER_INFO, sender)
    return sender


def queue(db: Database, key: str) -> uuid.UUID:
    with db.transaction() as s:
        message = OutboxMessage(
            id=uuid.uuid4(),
            idempotency_key=key,
            kind="followup_step",
            payload={"followup_id": "f-1", "step": 2},
            created_at=AS_OF,
            next_attempt_at=AS_OF,
            attempts=0,
        )
        s.add(message)
    return message.id


def message(db: Database, message_id: uuid.UUID) -> OutboxMessage:
    with db.new_session() as s:
        return s.get_one(OutboxMessage, message_id)


def test_a_delivery_is_a_signed_post_with_the_idempotency_key(
    db: Database, receiver: Receiver, webhook: outbox.WebhookSender
) -> None:
    mid = queue(db, "followup:f-1:2")

    assert run_job(db, JOB, as_of=AS_OF).counts == {"delivered": 1, "failed": 0, "dead": 0}

    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    assert headers["Idempotency-Key"] == "followup:f-1:2"
    assert headers["Content-Type"] == "application/json"
    expected = hmac.new(
        SECRET.encode(), headers["X-Welfare-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Welfare-Signature"] == f"v1={expected}"
    sent = json.loads(body)
    assert sent["payload"] == {"followup_id": "f-1", "step": 2} and sent["id"] == str(mid)
    assert message(db, mid).delivered_at == AS_OF


def test_a_failing_receiver_is_retried_with_exponential_backoff_and_notified_once(
    db: Database, receiver: Receiver, webhook: outbox.WebhookSender
) -> None:
    receiver.script = ["fail", "fail"]
    mid = queue(db, "k-backoff")

    assert run_job(db, JOB, as_of=AS_OF).counts["failed"] == 1
    first = message(db, mid)
    assert (first.next_attempt_at, first.last_error) == (AS_OF + timedelta(seconds=30), "HTTP 503")
    assert run_job(db, JOB, as_of=AS_OF + timedelta(seconds=29)).counts["failed"] == 0  # not due
    assert run_job(db, JOB, as_of=AS_OF + timedelta(seconds=30)).counts["failed"] == 1
    assert message(db, mid).next_attempt_at == AS_OF + timedelta(seconds=90)  # 30 s, then 60 s
    assert run_job(db, JOB, as_of=AS_OF + timedelta(seconds=90)).counts["delivered"] == 1
    assert run_job(db, JOB, as_of=AS_OF + timedelta(hours=2)).counts["delivered"] == 0

    assert [r["key"] for r in receiver.requests] == ["k-backoff"] * 3
    assert receiver.processed == ["k-backoff"]
    assert message(db, mid).attempts == 3


def test_a_receiver_that_times_out_then_answers_again_processes_the_message_once(
    db: Database, receiver: Receiver, webhook: outbox.WebhookSender
) -> None:
    receiver.script = ["slow", "ok"]
    mid = queue(db, "k-slow")

    counts = run_job(db, JOB, as_of=AS_OF).counts
    # The sender gave up at its timeout, before the (processing) receiver answered.
    assert counts["failed"] == 1 and message(db, mid).delivered_at is None
    assert message(db, mid).last_error in ("TimeoutError", "URLError")
    assert run_job(db, JOB, as_of=AS_OF + timedelta(minutes=1)).counts["delivered"] == 1

    # The receiver saw it twice, with one key: the second answer is for a message already done.
    assert [r["key"] for r in receiver.requests] == ["k-slow", "k-slow"]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert receiver.processed == ["k-slow"]


def test_a_refused_message_is_a_dead_letter_admins_see_and_can_send_back(
    db: Database,
    receiver: Receiver,
    webhook: outbox.WebhookSender,
    login_as: Callable[..., Any],
) -> None:
    receiver.script = ["refuse"]
    mid = queue(db, "k-refused")
    assert run_job(db, JOB, as_of=AS_OF).counts == {"delivered": 0, "failed": 0, "dead": 1}
    assert run_job(db, JOB, as_of=AS_OF + timedelta(days=1)).counts["dead"] == 0  # left alone

    admin = login_as("admin", ())
    listed = admin.get("/api/v1/outbox/dead-letters")
    assert listed.status_code == 200
    (item,) = listed.get_json()["items"]
    assert (item["id"], item["last_error"], item["attempts"]) == (
        str(mid),
        "HTTP 400",
        MAX_ATTEMPTS,
    )
    assert login_as("supervisor").get("/api/v1/outbox/dead-letters").status_code == 403

    retried = admin.post(f"/api/v1/outbox/dead-letters/{mid}/retry")
    assert retried.status_code == 200 and retried.get_json()["attempts"] == 0
    assert admin.post(f"/api/v1/outbox/dead-letters/{mid}/retry").status_code == 404  # queued
    assert admin.get("/api/v1/outbox/dead-letters").get_json()["items"] == []
    due = message(db, mid).next_attempt_at
    assert run_job(db, JOB, as_of=due).counts["delivered"] == 1
    assert receiver.processed == ["k-refused"]


def test_a_message_that_fails_every_attempt_ends_as_a_dead_letter(
    db: Database, receiver: Receiver, webhook: outbox.WebhookSender
) -> None:
    receiver.script = ["fail"] * MAX_ATTEMPTS
    mid = queue(db, "k-dies")
    as_of = AS_OF
    for _ in range(MAX_ATTEMPTS):
        run_job(db, JOB, as_of=as_of)
        as_of += timedelta(hours=1)
    dead = message(db, mid)
    assert (dead.attempts, dead.delivered_at, dead.last_error) == (MAX_ATTEMPTS, None, "HTTP 503")
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert run_job(db, JOB, as_of=as_of + timedelta(days=1)).counts == {
        "delivered": 0,
        "failed": 0,
        "dead": 0,
    }


def test_the_log_sender_stays_the_default_and_a_webhook_needs_a_long_secret(app: Flask) -> None:
    assert outbox.sender_for(Settings()) is None  # deliver_outbox falls back to the LogSender
    assert isinstance(outbox.SENDER, outbox.LogSender)
    env = {"WELFARE_OUTBOX_WEBHOOK_URL": "https://relay.example/notify"}
    with pytest.raises(SettingsError, match="WELFARE_OUTBOX_WEBHOOK_SECRET"):
        Settings.from_env(env | {"WELFARE_OUTBOX_WEBHOOK_SECRET": "short"})
    configured = Settings.from_env(env | {"WELFARE_OUTBOX_WEBHOOK_SECRET": SECRET})
    assert isinstance(outbox.sender_for(configured), outbox.WebhookSender)
    with pytest.raises(SettingsError, match="http"):
        Settings.from_env({"WELFARE_OUTBOX_WEBHOOK_URL": "ftp://relay.example/"})
