"""A controllable clock for the app (session timeouts, lockouts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def install(self, app: Flask) -> Clock:
        app.extensions["welfare.clock"] = self
        return self
