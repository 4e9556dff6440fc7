"""The supervisor's dashboard: where the work stands in my dongs, as charts drawn on the server
(SVG) with their numbers as tables; counts only, nobody named."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from services import dashboard, reference
from welfare.api.policy import page
from welfare.console.base import URGENCIES, me, query, render
from welfare.models import Role
from welfare.web import db_session, now

bp = Blueprint("dashboard", __name__)

RUN_STATUSES = {"succeeded": "성공", "failed": "실패", "running": "실행 중", "skipped": "건너뜀"}


@bp.get("/dashboard")
@page(Role.SUPERVISOR)
@query()
def index() -> Any:
    figures = dashboard.dashboard(db_session(), actor=me().actor(), now=now())
    names = {d.code: d.name for d in reference.list_dongs(db_session())}
    return render(
        "console/dashboard.html",
        figures=figures,
        open_labels=[names.get(code, code) for code in figures.open_by_dong],
        open_rows=list(figures.open_by_dong.values()),
        care_labels=[URGENCIES.get(c.urgency, c.urgency) for c in figures.care],
        care_rows=[[c.on_time, c.late, c.waiting_overdue] for c in figures.care],
        run_statuses=RUN_STATUSES,
        buckets=[label for label, _ in dashboard.AGE_BUCKETS],
        day_labels=[d.strftime("%m-%d") for d in figures.days],
        kimchi_labels=[k.campaign.name for k in figures.kimchi],
        kimchi_rows=[[k.delivered, k.failed, k.routed, k.waiting] for k in figures.kimchi],
    )
