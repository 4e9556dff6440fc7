"""What every console page shares: the parent blueprint, security headers, rendering, Korean
labels and time formats, and the HTML answers to errors (the API keeps problem+json)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user
from marshmallow import Schema, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response as BaseResponse

from services import reference
from welfare.api.blueprint import QUERY_PARAMS_ATTR
from welfare.api.policy import public
from welfare.api.problems import RETRY_AFTER_SECONDS, from_http_exception, log_unexpected
from welfare.api.security import Principal, current_principal
from welfare.database import is_unavailable
from welfare.errors import DomainError, InvalidInput
from welfare.models import Role
from welfare.web import db_session, now

log = logging.getLogger("welfare.console")

STATIC_DIR = Path(__file__).parent / "static"
SEOUL = ZoneInfo("Asia/Seoul")
STATIC_MAX_AGE = 3600  # our CSS and the vendored htmx: no personal data, cacheable for an hour

# Pages load scripts and styles from our own origin only: no inline script or style, no eval,
# nothing from elsewhere, forms post back here only, no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

console = Blueprint("console", __name__, template_folder="templates")


@console.before_request
def people_only() -> None:
    """The console is for people at a browser with a session; API tokens use the API."""
    principal: Any = current_user
    if getattr(principal, "is_authenticated", False) and principal.via != "session":
        raise _Forbidden


@console.after_request
def page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    return response


class _Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "이 화면을 볼 권한이 없습니다 (forbidden)"


F = TypeVar("F", bound=Callable[..., Any])


def query(*names: str) -> Callable[[F], F]:
    """The query parameters a page reads (plus `msg`, the code of a message to show); any other
    is refused with 422, as on the API (welfare.api.query). Only codes and opaque cursors go in a
    console URL, never anything about a person."""
    declared = frozenset(names) | {"msg"}

    def decorate(func: F) -> F:
        setattr(func, QUERY_PARAMS_ATTR, declared)
        return func

    return decorate


@console.get("/static/<path:filename>")
@public
@query()
def static(filename: str) -> BaseResponse:
    """Our stylesheet and the vendored htmx (welfare/console/static/vendor/)."""
    g.cacheable = True  # welfare.web leaves Cache-Control alone for these files
    return send_from_directory(STATIC_DIR, filename, max_age=STATIC_MAX_AGE)


def me() -> Principal:
    return current_principal()


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


def back_to(default: str, msg: str | None = None) -> BaseResponse:
    """Redirect (303, so a reload never posts again) to the page the form came from (a path of
    ours), else to `default`, with the code of a message to show there."""
    target = safe_path(request.form.get("next", "")) or default
    if msg:
        parts = urlsplit(target)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "msg"] + [("msg", msg)]
        target = urlunsplit(("", "", parts.path, urlencode(query), ""))
    return redirect(target, code=303)


def safe_path(target: str | None) -> str | None:
    """`target` if it is a path on this site (no scheme, no host, no `//`), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target


def form_text(name: str, default: str | None = None) -> str | None:
    value = request.form.get(name, "").strip()
    return value or default


def form_uuid(name: str) -> uuid.UUID | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput({name: ["올바른 선택이 아닙니다 (not a valid choice)"]}) from None


def form_version() -> int | None:
    """The version the form was rendered from (`version`), so a change made meanwhile by someone
    else is refused (412), never overwritten; None when the form has none."""
    value = request.form.get("version", "")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput({"version": ["올바르지 않은 값입니다 (not a number)"]})
    return int(value)


def load_form(
    schema: type[Schema], names: Iterable[str], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The form fields `names` (blank ones left out, so defaults apply) plus `extra`, loaded
    with the API's own schema for the same use case: one set of field rules, Korean-first
    messages, for both. Bad input raises InvalidInput (a 422 page)."""
    data: dict[str, Any] = {n: request.form[n] for n in names if request.form.get(n, "").strip()}
    data.update(extra or {})
    try:
        loaded: dict[str, Any] = schema().load(data)
    except ValidationError as exc:
        messages: dict[str, Any] = exc.normalized_messages()  # type: ignore[no-untyped-call]
        raise InvalidInput({k: _texts(v) for k, v in messages.items()}) from None
    return loaded


def _texts(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [f"{k}: {' '.join(_texts(v))}" for k, v in messages.items()]
    if isinstance(messages, list):
        return [str(m) for m in messages]
    return [str(messages)]


def local_instant(name: str) -> str | None:
    """A `datetime-local` field (Seoul wall time, as the phone shows it) as ISO 8601 with the
    +09:00 offset, for the API schemas' Instant fields; None when blank."""
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput({name: ["날짜와 시각을 확인하세요 (not a date and time)"]}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SEOUL)
    return parsed.isoformat()


def local_now() -> str:
    """Now as a `datetime-local` value in Seoul time (the form's default)."""
    return now().astimezone(SEOUL).strftime("%Y-%m-%dT%H:%M")


# -- Korean labels (presentation only: the values and their rules live in services) ----------

REASONS = {
    "contact_lapsed": "연락 두절",
    "care_response_overdue": "돌봄 응답 지연",
    "delivery_failed": "김치 배달 실패",
    "welfare_concern": "안부 걱정 (현장 관찰)",
    "ride_no_show": "이동지원 노쇼",
    "eligibility_expiring": "이동지원 자격 만료 임박",
    "dispatch_overdue": "출동 기한 지남",
    "hygiene_visit_missed": "건강위생 방문 불발",
    "partner_unanswered": "협력기관 무응답",
    "gateway_silent": "게이트웨이 신호 끊김",
    "scheduler_stalled": "스케줄러 멈춤",
    "data_unreadable": "데이터 손상",
}
STATES = {"open": "열림", "escalated": "상향", "resolved": "해결", "cancelled": "취소"}
# A ride's state, as the resident's timeline shows it.
RIDES = {
    "requested": "배차 전",
    "assigned": "배차됨",
    "completed": "완료",
    "no_show": "노쇼",
    "cancelled": "취소",
    "late_cancel": "늦은 취소",
}
OUTCOMES = {
    "confirmed_safe": "안전 확인",
    "hospitalized": "입원 확인",
    "moved_out": "전출",
    "deceased": "사망",
    "emergency_dispatched": "긴급 출동",
    "escalated_elsewhere": "타 기관 이관",
    "referred": "연계",
    "false_alarm": "오경보",
    "other": "기타",
    # Outcomes the system records when the work resolves itself (services name them).
    "contact_made": "연락됨",
    "responded": "응답함",
    "redelivered": "다시 배달함",
    "arrived": "도착함",
    "partner_answered": "협력기관 응답",
    "done_case_opened": "출동 완료 (사례 개시)",
    "done_referred": "출동 완료 (연계)",
    "done_no_need": "출동 완료 (지원 불필요)",
    "done_not_found": "출동 완료 (못 만남)",
    "visit_done": "방문 완료",
    "visit_refused": "방문 거부",
}
CHANNELS = {
    "phone": "전화",
    "visit": "방문",
    "message": "메시지",
    "ai_call": "AI 안부전화",
    "sensor": "센서",
    "delivery": "배달",
    "ride": "이동지원",
}
CONTACT_OUTCOMES = {
    "reached": "통화·만남 (안녕)",
    "unwell": "연락됨 (걱정)",
    "no_answer": "응답 없음",
    "not_home": "부재",
    "refused": "거부",
}
PROGRAMS = {
    "care_center": "24시간 돌봄",
    "ongi": "온기",
    "kimchi": "김치 지원",
    "mobility": "이동 지원",
    "outreach_dispatch": "복지상담관 출동",
    "hygiene_care": "건강 위생 방문",
    "system": "시스템",
}
RISKS = {"low": "낮음", "medium": "보통", "high": "높음", "critical": "매우 높음"}
ROLES = {
    "counselor": "상담사",
    "outreach": "방문 요원",
    "supervisor": "팀장",
    "admin": "관리자",
    "gateway": "연계 시스템",
    "system": "시스템",
}
MESSAGES = {
    "claimed": "맡았습니다.",
    "assigned": "담당자를 지정했습니다.",
    "resolved": "해결로 닫았습니다.",
    "logged_out": "로그아웃했습니다.",
    "contact_logged": "연락을 기록했습니다.",
    "registered": "주민을 등록했습니다.",
    "noted": "메모를 남겼습니다.",
    "transitioned": "사례 상태를 바꿨습니다.",
    "referred": "연계를 기록했습니다.",
    "closure_requested": "종결을 요청했습니다.",
    "closure_decided": "종결 요청을 처리했습니다.",
    "responded": "응답을 기록했습니다.",
    "handed_over": "인계했습니다.",
    "saved": "저장했습니다.",
    "shift_added": "당번을 넣었습니다.",
    "enrolled": "건강위생 방문에 등록했습니다.",
    "ended": "방문을 끝냈습니다. 아직 오지 않은 방문은 지웠습니다.",
    "sent": "의뢰서를 보냈습니다. 아래가 보낸 내용입니다.",
    "expired": "세션이 끝났습니다. 다시 로그인하세요.",
    "rate_saved": "신호 간격을 저장했습니다.",
    "rate_cleared": "신호 간격 설정을 지웠습니다. 게이트웨이의 신호에서 배운 간격을 씁니다.",
}

CASE_STATUSES = {
    "intake": "접수",
    "assessment": "사정",
    "active": "지원 중",
    "suspended": "일시 중지",
    "closure_requested": "종결 요청",
    "closed": "종결",
}
RESIDENT_STATUSES = {"active": "거주", "moved_out": "전출", "deceased": "사망", "erased": "파기"}
CARE_STATES = {"received": "응답 전", "responded": "응대 중", "done": "끝남"}
CARE_TYPES = {
    "child_care": "아동 돌봄",
    "elder_care": "어르신 돌봄",
    "disability_care": "장애인 돌봄",
    "emergency_lodging": "긴급 숙박",
    "meal": "식사",
    "short_term_care": "단기 돌봄",
    "crisis": "위기",
    "other": "기타",
}
URGENCIES = {"emergency": "긴급", "urgent": "급함", "normal": "보통"}
CARE_OUTCOMES = {"handled": "처리", "referred": "연계", "closed": "종료"}
EVENT_KINDS = {
    "raised": "발생",
    "escalated": "상향",
    "claimed": "맡음",
    "assigned": "담당 지정",
    "resolved": "해결",
    "cancelled": "취소",
    "reassigned": "담당 변경",
    "moved": "전출로 이관",
}

# Why a dispatch was cancelled, a referral withdrawn, or either moved to another dong (the
# `why` of their history entries, written by services/residents/changes.py).
ENDED_BECAUSE = {
    "resident_deceased": "주민 사망",
    "resident_moved_out": "전출",
    "resident_erased": "파기",
    "resident_moved": "동 이동",
}


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One entry of a dispatch's or a referral's history as the page shows it."""

    at: datetime
    label: str
    why: str | None
    who: str
    detail: str | None


def history_rows(
    events: Iterable[Any],
    kinds: Mapping[str, str],
    names: Mapping[uuid.UUID, str],
    details: Callable[[Any], str | None] = lambda e: None,
) -> list[HistoryRow]:
    """A record's history (services/history.py's views) with Korean labels: what happened,
    why (for an entry that names it), and who did it by display name (a colleague outside my
    dongs, or no longer active, is `직원`; an entry without a person is the system's)."""
    rows = []
    for e in events:
        why = e.detail.get("why")
        who = "시스템" if e.actor_staff_id is None else names.get(e.actor_staff_id, "직원")
        rows.append(
            HistoryRow(
                at=e.at,
                label=kinds.get(e.kind, e.kind),
                why=ENDED_BECAUSE.get(why, why) if why else None,
                who=who,
                detail=details(e),
            )
        )
    return rows


def moved_between(detail: Mapping[str, Any]) -> str:
    """`가산동 → 독산1동`: the dongs of a `moved` history entry."""
    dongs = dong_names()
    return (
        f"{dongs.get(detail.get('from_dong', ''), '')} → {dongs.get(detail.get('to_dong', ''), '')}"
    )


NAV: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("console.home.queue", "내 업무", frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR})),
    (
        "console.residents.search",
        "주민",
        frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR}),
    ),
    ("console.cases.index", "사례", frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR})),
    ("console.care.board", "돌봄센터", frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR})),
    (
        "console.kimchi.campaigns",
        "김치",
        frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR}),
    ),
    (
        "console.mobility.board",
        "이동지원",
        frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR}),
    ),
    (
        "console.dispatch.index",
        "출동",
        frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR}),
    ),
    (
        "console.hygiene.enrollments",
        "건강위생",
        frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR}),
    ),
    (
        "console.partners.index",
        "협력기관",
        frozenset({Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR}),
    ),
    ("console.dashboard.index", "현황판", frozenset({Role.SUPERVISOR})),
    ("console.incidents.index", "게이트웨이", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    ("console.audit.records", "열람 기록", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    ("console.admin.staff", "관리", frozenset({Role.ADMIN})),
)


def kst(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(SEOUL).strftime(fmt) if value else ""


def duration(delta: timedelta) -> str:
    """`3일 4시간`, `2시간 5분`, `7분`: the two largest units, in Korean."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}일 {hours}시간" if hours else f"{days}일"
    if hours:
        return f"{hours}시간 {mins}분" if mins else f"{hours}시간"
    return f"{mins}분"


def ago(value: datetime | None) -> str:
    return duration(now() - value) if value else ""


def time_left(value: datetime | None) -> str:
    if value is None:
        return ""
    delta = value - now()
    return f"{duration(delta)} 남음" if delta.total_seconds() >= 0 else f"{duration(delta)} 지남"


def is_past(value: datetime | None) -> bool:
    return value is not None and value <= now()


@console.app_context_processor
def page_context() -> dict[str, Any]:
    principal: Any = current_user
    signed_in = bool(getattr(principal, "is_authenticated", False))
    role = principal.role if signed_in else None
    pages = current_app.view_functions
    return {
        "me": principal if signed_in else None,
        "csrf_token": principal.csrf_token if signed_in else None,
        "nav": [(e, label) for e, label, roles in NAV if role in roles and e in pages],
        "pages": pages,
        "dong_names": dong_names() if signed_in else {},
        "event_kinds": EVENT_KINDS,
        "case_statuses": CASE_STATUSES,
        "resident_statuses": RESIDENT_STATUSES,
        "care_states": CARE_STATES,
        "care_types": CARE_TYPES,
        "urgencies": URGENCIES,
        "care_outcomes": CARE_OUTCOMES,
        "labels": {
            "reasons": REASONS,
            "states": STATES,
            "outcomes": OUTCOMES,
            "channels": CHANNELS,
            "contact_outcomes": CONTACT_OUTCOMES,
            "programs": PROGRAMS,
            "rides": RIDES,
            "risks": RISKS,
            "roles": ROLES,
        },
        "message": MESSAGES.get(request.args.get("msg", "")),
    }


def dong_names() -> dict[str, str]:
    """Dong codes to Korean names, read once per request."""
    if "dong_names" not in g:
        g.dong_names = {d.code: d.name for d in reference.list_dongs(db_session())}
    return cast(dict[str, str], g.dong_names)


def _register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(kst=kst, ago=ago, time_left=time_left, duration=duration)
    app.jinja_env.tests["past"] = is_past


# -- errors: HTML pages for the console, problem+json for the API --------------------------------

ERROR_TITLES: Mapping[int, str] = {
    400: "요청을 처리할 수 없습니다",
    403: "권한이 없습니다",
    404: "찾을 수 없습니다",
    405: "허용되지 않은 요청입니다",
    409: "다른 변경과 충돌했습니다",
    413: "보낸 내용이 너무 큽니다",
    422: "입력을 확인하세요",
    429: "시도가 너무 많습니다. 잠시 후 다시 시도하세요",
    503: "잠시 사용할 수 없습니다",
}


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def error_page(status: int, detail: str | None = None, fields: Any = None) -> tuple[str, int]:
    return render(
        "console/error.html",
        status,
        status_code=status,
        title=ERROR_TITLES.get(status, "오류가 났습니다"),
        detail=detail,
        fields=fields or {},
    )


def _to_login() -> BaseResponse:
    target = request.full_path if request.method == "GET" else None
    target = target.rstrip("?") if target else None
    if target and target != "/":
        return redirect(url_for("console.login.form", next=target), code=303)
    return redirect(url_for("console.login.form"), code=303)


@console.errorhandler(DomainError)
def domain_error(error: DomainError) -> Any:
    if error.status == 401:
        return _to_login()
    fields = getattr(error, "errors", None)
    return error_page(error.status, error.detail, fields)


@console.errorhandler(SQLAlchemyError)
def database_error(error: SQLAlchemyError) -> Any:
    """The database cannot serve now: a 503 page in Korean with Retry-After, as the API's
    problem+json (welfare.api.problems.from_database_error) decides; any other database error is
    a bug, a 500 page. Nothing was written: the request's transaction is rolled back."""
    if not is_unavailable(error):
        log_unexpected(error)
        return error_page(500)
    log.warning(
        "database unavailable",
        extra={"error_type": type(getattr(error, "orig", None) or error).__name__},
    )
    # The page says so without asking the database anything (who is signed in, the dongs'
    # names): drawn for nobody, as flask-login's anonymous user.
    g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
    body, status = error_page(
        503,
        "데이터베이스에 잠시 연결할 수 없습니다. 입력한 내용은 저장되지 않았습니다. "
        "잠시 후 다시 시도하세요.",
    )
    return body, status, {"Retry-After": RETRY_AFTER_SECONDS}


def http_error(error: HTTPException) -> Any:
    if _is_api(request.path):
        return from_http_exception(error)
    if error.code == 401:
        return _to_login()
    original = getattr(error, "original_exception", None)
    if isinstance(error, InternalServerError) and original is not None:
        log_unexpected(original)
    return error_page(error.code or 500)


def init_errors(app: Flask) -> None:
    _register_filters(app)
    # Replaces flask-smorest's app-wide handler with one that answers the API as before.
    app.register_error_handler(HTTPException, http_error)
