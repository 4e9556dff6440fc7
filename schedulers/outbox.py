"""Deliver queued notifications with retries; each message carries an idempotency key.

Two senders:

- `LogSender`, the development default: a log line with ids and codes only (the outbox never
  holds personal data).
- `WebhookSender`, for an SMS/KakaoTalk relay (`WELFARE_OUTBOX_WEBHOOK_URL`): an HTTP POST of
  the message as JSON with the headers `Idempotency-Key` (the message's key, the same on every
  retry, so the relay can drop a second copy), `X-Welfare-Timestamp` (Unix seconds) and
  `X-Welfare-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with
  WELFARE_OUTBOX_WEBHOOK_SECRET>`. A 2xx answer delivers; a timeout, a refused connection, a
  5xx, 408, 425 or 429 is retried with exponential backoff (30 s, 1 min, 2 min, … at most 1 h);
  any other 4xx means the relay will never take it, and the message is dead at once.

After `MAX_ATTEMPTS` failures a message is dead too: the job never picks it again, and admins see
it in `GET /api/v1/outbox/dead-letters` and may send it back to the queue
(services/outbox.py). A run stops sending after `RUN_BUDGET` so a slow relay never holds the
job's transaction (on SQLite, the write lock) for long; the rest waits for the next run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from services.outbox import MAX_ATTEMPTS
from welfare.models import OutboxMessage

log = logging.getLogger("welfare.outbox")

BATCH = 200
RUN_BUDGET = timedelta(seconds=10)
# Where a Database puts the configured sender in every session's `info` (set by the app).
SENDER_INFO = "welfare.outbox_sender"
RETRIED_STATUSES = frozenset({408, 425, 429})
SIGNATURE_HEADER = "X-Welfare-Signature"
TIMESTAMP_HEADER = "X-Welfare-Timestamp"

__all__ = ["MAX_ATTEMPTS", "LogSender", "Sender", "WebhookSender", "deliver_outbox"]


class Sender(Protocol):
    def send(self, message: OutboxMessage) -> None: ...


class DeliveryRefused(Exception):
    """The receiver refused the message for good (a 4xx it will answer again): no retry."""


class DeliveryFailed(Exception):
    """The receiver could not take the message now (5xx, 408, 425, 429): retried later."""


class LogSender:
    """Writes each notification to the log: what, to which role, for which follow-up."""

    def send(self, message: OutboxMessage) -> None:
        log.info(
            "notification",
            extra={
                "kind": message.kind,
                "key": message.idempotency_key,
                **{f"payload_{k}": v for k, v in message.payload.items()},
            },
        )


class WebhookSender:
    """POSTs each message to one URL, signed, with its idempotency key (module docstring)."""

    def __init__(self, url: str, secret: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret.encode()
        self.timeout = timeout

    def body(self, message: OutboxMessage) -> bytes:
        return json.dumps(
            {
                "id": str(message.id),
                "idempotency_key": message.idempotency_key,
                "kind": message.kind,
                "created_at": message.created_at.isoformat(),
                "payload": message.payload,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    def signature(self, timestamp: str, body: bytes) -> str:
        digest = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256)
        return f"v1={digest.hexdigest()}"

    def send(self, message: OutboxMessage) -> None:
        body = self.body(message)
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's https setting
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "geumcheon-welfare-outbox/1",
                "Idempotency-Key": message.idempotency_key,
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: self.signature(timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code >= 500 or exc.code in RETRIED_STATUSES:
                raise DeliveryFailed(f"HTTP {exc.code}") from None
            raise DeliveryRefused(f"HTTP {exc.code}") from None


SENDER: Sender = LogSender()


def sender_for(settings: Settings) -> Sender | None:
    """The webhook sender when a URL is configured; None: the module's default (`SENDER`)."""
    if not settings.outbox_webhook_url:
        return None
    return WebhookSender(
        settings.outbox_webhook_url,
        settings.outbox_webhook_secret,
        timeout=settings.outbox_webhook_timeout,
    )


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def deliver_outbox(session: Session, as_of: datetime) -> Mapping[str, int]:
    sender: Sender = session.info.get(SENDER_INFO) or SENDER
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.next_attempt_at <= as_of,
            OutboxMessage.attempts < MAX_ATTEMPTS,
        )
        .order_by(OutboxMessage.next_attempt_at)
        .limit(BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    counts = {"delivered": 0, "failed": 0, "dead": 0}
    stop_at = time.monotonic() + RUN_BUDGET.total_seconds()
    for message in session.scalars(stmt).all():
        if time.monotonic() > stop_at:
            break  # the rest waits for the next run
        message.attempts += 1
        try:
            sender.send(message)
        except DeliveryRefused as exc:
            message.last_error = str(exc)[:200]
            message.attempts = max(message.attempts, MAX_ATTEMPTS)
            counts["dead"] += 1
        except Exception as exc:  # any other provider failure is retried later
            message.last_error = (
                str(exc)[:200] if isinstance(exc, DeliveryFailed) else type(exc).__name__
            )
            if message.attempts >= MAX_ATTEMPTS:
                counts["dead"] += 1
            else:
                message.next_attempt_at = as_of + backoff(message.attempts)
                counts["failed"] += 1
        else:
            message.delivered_at = as_of
            counts["delivered"] += 1
    if counts["dead"]:
        log.warning("notifications dead-lettered", extra={"count": counts["dead"]})
    return counts
