"""The access-record review for a month: the totals, outliers, out-of-hours access, denials
and reveals, and the records themselves, over the reviewer's scope (supervisors: their dongs;
admins: all, without reasons), exactly as GET /api/v1/audit/review and /audit/events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, request, url_for
from marshmallow import ValidationError

from services import access_records
from welfare.api.audit import ReviewArgs
from welfare.api.policy import page
from welfare.console.base import SEOUL, me, query, render
from welfare.errors import InvalidInput
from welfare.models import Role
from welfare.web import db_session, now

bp = Blueprint("audit", __name__)

ACTIONS = {
    "read": "열람",
    "search": "검색",
    "create": "등록",
    "update": "수정",
    "reveal": "주민번호 열람",
    "export": "내보내기",
    "erase": "파기",
    "access_denied": "범위 밖 접근",
    "login": "로그인",
    "login_failed": "로그인 실패",
    "logout": "로그아웃",
    "locked_out": "계정 잠김",
}


def _month() -> date:
    chosen = request.args.get("month") or f"{now().astimezone(SEOUL):%Y-%m}"
    try:
        month = ReviewArgs().load({"month": chosen})["month"]
    except ValidationError as exc:
        raise InvalidInput(
            {"month": [str(m) for m in exc.messages_dict.get("month", [])]}
        ) from None
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1)


@bp.get("/audit")
@page(Role.SUPERVISOR, Role.ADMIN)
@query("month", "cursor")
def records() -> Any:
    month = _month()
    actor = me().actor()
    session = db_session()
    review = access_records.review_month(session, actor=actor, month=month)
    start = datetime.combine(month, datetime.min.time(), SEOUL)
    end = datetime.combine(
        date(month.year + month.month // 12, month.month % 12 + 1, 1), datetime.min.time(), SEOUL
    )
    items, cursor = access_records.list_access_records(
        session,
        actor=actor,
        since=start,
        until=end,
        cursor=request.args.get("cursor") or None,
        limit=50,
    )
    session.commit()
    next_url = url_for(".records", month=f"{month:%Y-%m}", cursor=cursor) if cursor else None
    return render(
        "console/audit.html",
        review=review,
        items=items,
        month=f"{month:%Y-%m}",
        next_url=next_url,
        actions=ACTIONS,
    )
