"""A gateway's expected signal interval, as admins see and set it from the console (the
incident page of a silent gateway, and the gateway's account page): its rhythm read with
`services.gateway_silence.get_watch`, the form loaded with the API's own `SignalRateIn` and
saved with the same use case as PUT /api/v1/gateways/{id}/signal-rate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import request

from services import gateway_silence
from welfare.api.gateways import SignalRateIn
from welfare.console.base import form_version, load_form, me
from welfare.models import Role
from welfare.web import db_session, now

SETTERS = (Role.ADMIN,)  # as PUT /api/v1/gateways/{id}/signal-rate
FIELD = "expected_interval_minutes"


@dataclass(frozen=True, slots=True)
class RateForm:
    """What the page's signal-rate section shows: the rhythm and the form (with what was typed
    and its errors, when it comes back refused)."""

    watch: gateway_silence.WatchView | None
    value: str
    errors: dict[str, Any] = field(default_factory=dict)
    max_minutes: int = gateway_silence.MAX_EXPECTED_MINUTES

    @property
    def version(self) -> int:
        """The version the form is rendered from: a watch not made yet is at 0."""
        return self.watch.version if self.watch else 0

    @property
    def rhythm(self) -> dict[str, timedelta | None]:
        """The watch's seconds as durations, for the page to write in Korean."""
        if self.watch is None:
            return {}
        w = self.watch
        return {
            "configured": _span(w.expected_interval_seconds),
            "learned": _span(w.learned_interval_seconds),
            "effective": _span(w.effective_expected_seconds),
            "threshold": _span(w.silence_threshold_seconds),
        }


def _span(seconds: int | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def rate_form(gateway_id: uuid.UUID, errors: dict[str, Any] | None = None) -> RateForm:
    """The gateway's rhythm and its form (a read of the gateway's watch, recorded)."""
    watch = gateway_silence.get_watch(
        db_session(), actor=me().actor(), gateway_id=gateway_id, now=now()
    )
    if errors:
        value = request.form.get(FIELD, "")
    else:
        seconds = watch.expected_interval_seconds if watch else None
        value = "" if seconds is None else str(seconds // 60)
    return RateForm(watch=watch, value=value, errors=errors or {})


def save_rate(gateway_id: uuid.UUID) -> str:
    """Set the interval the form names, in minutes, or clear it (the `clear` button) so the
    gateway's own batches teach it again; the code of the message to show. Bad input raises
    InvalidInput (the caller shows the form again), a stale form PreconditionFailed (412)."""
    clear = request.form.get("action") == "clear"
    payload = load_form(SignalRateIn, () if clear else (FIELD,), {FIELD: None} if clear else None)
    gateway_silence.set_expected_interval(
        db_session(),
        actor=me().actor(),
        gateway_id=gateway_id,
        expected_minutes=payload[FIELD],
        now=now(),
        expected_version=form_version(),
    )
    return "rate_cleared" if clear else "rate_saved"
