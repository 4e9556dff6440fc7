"""Admin pages: staff accounts (create, change role, dongs and name, deactivate, unlock, reset
the second factor), gateway tokens (issue, shown once; revoke), the dongs and the roles. The
same use cases as /api/v1/staff; admins never see resident data here."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, current_app, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from services import reference, second_factor, tokens
from services import staff as staff_service
from welfare.api.policy import page, policy_for
from welfare.api.security import hasher
from welfare.api.staff import StaffCreateIn, StaffUpdateIn, TokenCreateIn
from welfare.console.base import ROLES, back_to, load_form, me, query, render
from welfare.console.signal_rate import SETTERS, rate_form, save_rate
from welfare.errors import InvalidInput, NotFound, PreconditionFailed
from welfare.models import Role, Staff
from welfare.web import db_session, get_settings, now

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_DUTIES = {
    "counselor": "사례 관리, 주민 등록·수정, 상담 기록, 연계, 후속조치 배정",
    "outreach": "현장 방문·전화 기록, 후속조치 처리, 돌봄 요청 응대 (상담 기록은 못 봄)",
    "supervisor": "담당 동 전체 검토, 종결 승인, 현황판, 열람 기록 검토",
    "admin": "직원 계정·권한·토큰 관리, 열람 기록 검토 (주민 정보는 못 봄)",
    "gateway": "연계 시스템(센서, AI 안부전화): API 토큰으로 신호만 보냄",
}


def _version() -> int | None:
    value = request.form.get("version", "")
    return int(value) if value.isdigit() else None


def _staff_page(
    member: Staff, status: int = 200, rate_errors: dict[str, Any] | None = None, **extra: Any
) -> Any:
    dongs = reference.list_dongs(db_session())
    return render(
        "console/admin_staff_member.html",
        status,
        member=member,
        locked=member.is_locked(now()),
        dongs=dongs,
        roles=[r for r in ROLES if r != "system"],
        tokens=tokens.list_tokens(db_session(), staff_id=member.id),
        own=member.id == me().staff_id,
        # A gateway's signal rhythm and the form that sets the interval to expect from it.
        rate=rate_form(member.id, rate_errors) if member.role == Role.GATEWAY.value else None,
        **extra,
    )


@bp.get("/staff")
@page(Role.ADMIN)
@query("cursor")
def staff() -> Any:
    found = staff_service.list_staff(
        db_session(), cursor=request.args.get("cursor") or None, limit=50
    )
    db_session().commit()
    next_url = url_for(".staff", cursor=found.next_cursor) if found.next_cursor else None
    return render(
        "console/admin_staff.html",
        items=found.items,
        next_url=next_url,
        dongs=reference.list_dongs(db_session()),
        roles=[r for r in ROLES if r != "system"],
        now_=now(),
    )


@bp.post("/staff")
@page(Role.ADMIN)
def create_staff() -> BaseResponse:
    payload = load_form(
        StaffCreateIn,
        ("username", "role", "display_name", "password"),
        {"dongs": request.form.getlist("dongs")},
    )
    member = staff_service.create_staff(
        db_session(), actor=me().actor(), hasher=hasher(), now=now(), **payload
    )
    return back_to(url_for(".member", staff_id=member.id), "saved")


@bp.get("/staff/<uuid:staff_id>")
@page(Role.ADMIN)
@query()
def member(staff_id: uuid.UUID) -> Any:
    found = staff_service.get_staff(db_session(), staff_id)
    db_session().commit()
    return _staff_page(found)


@bp.post("/staff/<uuid:staff_id>")
@page(Role.ADMIN)
def update(staff_id: uuid.UUID) -> BaseResponse:
    payload = load_form(
        StaffUpdateIn, ("role", "display_name"), {"dongs": request.form.getlist("dongs")}
    )
    version = _version()
    if version is None:
        raise PreconditionFailed
    staff_service.update_staff(
        db_session(),
        actor=me().actor(),
        staff_id=staff_id,
        expected_version=version,
        now=now(),
        **payload,
    )
    return back_to(url_for(".member", staff_id=staff_id), "saved")


@bp.post("/staff/<uuid:staff_id>/deactivate")
@page(Role.ADMIN)
def deactivate(staff_id: uuid.UUID) -> BaseResponse:
    staff_service.deactivate_staff(db_session(), actor=me().actor(), staff_id=staff_id, now=now())
    return back_to(url_for(".member", staff_id=staff_id), "saved")


@bp.post("/staff/<uuid:staff_id>/unlock")
@page(Role.ADMIN)
def unlock(staff_id: uuid.UUID) -> BaseResponse:
    staff_service.unlock_staff(db_session(), actor=me().actor(), staff_id=staff_id, now=now())
    return back_to(url_for(".member", staff_id=staff_id), "saved")


@bp.post("/staff/<uuid:staff_id>/totp-reset")
@page(Role.ADMIN)
def totp_reset(staff_id: uuid.UUID) -> BaseResponse:
    second_factor.reset(db_session(), actor=me().actor(), staff_id=staff_id, now=now())
    return back_to(url_for(".member", staff_id=staff_id), "saved")


@bp.post("/staff/<uuid:staff_id>/tokens")
@page(Role.ADMIN)
def issue_token(staff_id: uuid.UUID) -> Any:
    """A gateway's token, shown once on the page that answers the POST (never in a URL)."""
    payload = load_form(TokenCreateIn, ("label",))
    plaintext, _token = tokens.issue_token(
        db_session(),
        actor=me().actor(),
        staff_id=staff_id,
        label=payload["label"],
        now=now(),
        lifetime=get_settings().api_token_lifetime,
    )
    return _staff_page(staff_service.get_staff(db_session(), staff_id), issued=plaintext)


@bp.post("/staff/<uuid:staff_id>/tokens/<uuid:token_id>/revoke")
@page(Role.ADMIN)
def revoke_token(staff_id: uuid.UUID, token_id: uuid.UUID) -> BaseResponse:
    tokens.revoke_token(
        db_session(), actor=me().actor(), staff_id=staff_id, token_id=token_id, now=now()
    )
    return back_to(url_for(".member", staff_id=staff_id), "saved")


@bp.post("/gateways/<uuid:gateway_id>/signal-rate")
@page(*SETTERS)
def signal_rate(gateway_id: uuid.UUID) -> Any:
    """Set or clear the interval to expect from a gateway, from its account page (the same
    form and use case as on a silent gateway's incident page); any other account is a 404
    page, as the API answers. Not a change of anyone's rights: a gateway's rhythm."""
    session = db_session()
    member = staff_service.get_staff(session, gateway_id)
    if member.role != Role.GATEWAY.value:
        raise NotFound
    try:
        msg = save_rate(gateway_id)
    except InvalidInput as exc:
        session.rollback()
        return _staff_page(staff_service.get_staff(session, gateway_id), 422, exc.errors)
    return back_to(url_for(".member", staff_id=gateway_id), msg)


@bp.get("/dongs")
@page(Role.ADMIN)
@query()
def dongs() -> Any:
    found = reference.list_dongs(db_session())
    members: list[Staff] = []
    cursor: str | None = None
    while True:
        batch = staff_service.list_staff(db_session(), cursor=cursor, limit=200)
        members += batch.items
        cursor = batch.next_cursor
        if cursor is None:
            break
    db_session().commit()
    counts = {d.code: sum(1 for m in members if m.is_active and d.code in m.dongs) for d in found}
    return render("console/admin_dongs.html", items=found, counts=counts)


@bp.get("/roles")
@page(Role.ADMIN)
@query()
def roles() -> Any:
    """What each role does, and which console pages admit it, read from the pages' policies
    (so this table never drifts from what the server enforces)."""
    app = current_app
    pages = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("console.") or "GET" not in (rule.methods or ()):
            continue
        policy = policy_for(app, rule.endpoint, "GET")
        if policy is None or policy.public:
            continue
        pages.append((rule.rule, [r.value for r in Role if policy.allows(r)]))
    return render(
        "console/admin_roles.html",
        duties=ROLE_DUTIES,
        pages=pages,
        roles=[r for r in ROLE_DUTIES],
    )
