"""Deliver queued notifications with retries; each message carries an idempotency key.

The default sender writes a log line with ids and codes only (the outbox never holds personal
data). A real SMS/KakaoTalk/control-center sender implements `Sender` and passes the message's
idempotency key to its provider, so a retry after a crash never notifies twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from welfare.models import OutboxMessage

log = logging.getLogger("welfare.outbox")

BATCH = 200
MAX_ATTEMPTS = 10


class Sender(Protocol):
    def send(self, message: OutboxMessage) -> None: ...


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


SENDER: Sender = LogSender()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def deliver_outbox(session: Session, as_of: datetime) -> Mapping[str, int]:
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
    delivered = failed = 0
    for message in session.scalars(stmt):
        message.attempts += 1
        try:
            SENDER.send(message)
        except Exception as exc:  # any provider failure is retried later
            message.last_error = type(exc).__name__
            message.next_attempt_at = as_of + backoff(message.attempts)
            failed += 1
        else:
            message.delivered_at = as_of
            delivered += 1
    return {"delivered": delivered, "failed": failed}
