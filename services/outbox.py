"""The notification outbox seen by admins: messages that gave up (dead letters), and retrying one.

A message is dead once it failed `MAX_ATTEMPTS` times, or once its receiver refused it for good
(a 4xx other than 408, 425 or 429: the sender marks it dead at once). The scheduler's `outbox` job
(schedulers/outbox.py) never picks a dead message again; an admin who fixed the cause (a wrong
URL, a receiver's bug) sends it back to the queue, and it is delivered with its same idempotency
key, so a receiver that already processed it does not notify twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from services.pagination import KeyKind, Keyset, Page, paginate
from welfare.errors import NotFound
from welfare.models import OutboxMessage

MAX_ATTEMPTS = 10

NEWEST_FIRST = Keyset.of(
    (OutboxMessage.created_at, KeyKind.INSTANT), (OutboxMessage.id, KeyKind.UUID), descending=True
)


def is_dead() -> ColumnElement[bool]:
    return and_(OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts >= MAX_ATTEMPTS)


def list_dead_letters(session: Session, *, cursor: str | None, limit: int) -> Page[OutboxMessage]:
    """Undelivered messages that gave up, newest first (ids and codes only, no personal data)."""
    return paginate(
        session, select(OutboxMessage).where(is_dead()), NEWEST_FIRST, cursor=cursor, limit=limit
    )


def retry_dead_letter(session: Session, message_id: uuid.UUID, *, now: datetime) -> OutboxMessage:
    """Queue a dead message again, due now, with a fresh set of attempts (same idempotency key).
    404 for an unknown id, or a message that is not dead (queued or delivered)."""
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.id == message_id, is_dead()).with_for_update()
    ).one_or_none()
    if message is None:
        raise NotFound("보낼 수 없었던 알림 중에 없습니다 (no such dead letter)")
    message.attempts = 0
    message.next_attempt_at = now
    session.commit()
    return message
