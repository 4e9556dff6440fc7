"""A dispatch's and an external referral's history on their console pages (경과): each entry's
time in Seoul, its Korean label, who did it by display name, and why a dispatch was cancelled,
a referral withdrawn or either moved. The labels are compared with what the services write:
every kind and every reason recorded by the real use cases below has its label, and every label
names something they write."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.support.casework import register
from tests.support.console import assert_no_personal_data_in_urls, console_login
from tests.support.plan import dispatch_request, external_referral, on_duty
from tests.support.staff import DOKSAN1, GASAN, log_in, make_staff
from welfare.console import base, dispatch, partners
from welfare.models import AuditEvent, DispatchEvent, ReferralEvent
from welfare.web import get_database


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.get_json()
    return dict(response.get_json())


def _version(client: Any, rid: str) -> str:
    etag: str = client.get(f"/api/v1/residents/{rid}").headers["ETag"]
    return etag


def _records(app: Flask, staff_id: uuid.UUID) -> list[tuple[str, list[str]]]:
    with get_database(app).new_session() as s:
        return [
            (e.action, [str(r) for r in e.resident_ids or []])
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.action != "login")
                .order_by(AuditEvent.at, AuditEvent.seq)
            )
        ]


def _history(body: str) -> str:
    return body.split('<h2 id="history-title">경과</h2>')[1].split("</ol>", maxsplit=1)[0]


def _every_path(app: Flask, login_as: Any) -> dict[str, Any]:
    """Every kind of history entry and every reason, through the real use cases."""
    supervisor = login_as("supervisor", (GASAN, DOKSAN1))
    member = make_staff(app, "counselor", (GASAN, DOKSAN1), display_name="한상담")
    other = make_staff(app, "counselor", (GASAN,), display_name="두당번")
    counselor = log_in(app, member)
    on_duty(supervisor, member.id)
    on_duty(supervisor, other.id)

    # A dispatch worked to the end, given to one counselor and then to another; a referral
    # accepted and completed, another declined.
    worked = register(counselor, name="경과순")["id"]
    done = dispatch_request(counselor, resident_id=worked)
    path = f"/api/v1/dispatches/{done['id']}"
    _ok(counselor.post(f"{path}/assign", json={"staff_id": str(other.id)}))
    _ok(counselor.post(f"{path}/assign", json={"staff_id": str(member.id)}))
    _ok(counselor.post(f"{path}/moves", json={"to": "en_route"}))
    _ok(counselor.post(f"{path}/moves", json={"to": "on_site"}))
    _ok(counselor.post(f"{path}/done", json={"outcome": "no_need"}))
    completed = external_referral(counselor, worked)
    ref = f"/api/v1/external-referrals/{completed['id']}"
    _ok(counselor.post(f"{ref}/answer", json={"answer": "accepted"}))
    _ok(counselor.post(f"{ref}/complete", json={}))
    declined = external_referral(counselor, worked)
    _ok(
        counselor.post(
            f"/api/v1/external-referrals/{declined['id']}/answer", json={"answer": "declined"}
        )
    )

    # A resident who moves to Doksan 1 (their open dispatch and referral go along) and dies.
    mover = register(counselor, name="이동순")["id"]
    moved_dispatch = dispatch_request(counselor, resident_id=mover)
    moved_referral = external_referral(counselor, mover)
    _ok(
        counselor.patch(
            f"/api/v1/residents/{mover}",
            json={"dong": DOKSAN1},
            headers={"If-Match": _version(counselor, mover)},
        )
    )
    _ok(
        counselor.post(
            f"/api/v1/residents/{mover}/status",
            json={"status": "deceased"},
            headers={"If-Match": _version(counselor, mover)},
        )
    )
    # A resident who moves out of the district, and one whose record is erased.
    leaver = register(counselor, name="전출순")["id"]
    left = dispatch_request(counselor, resident_id=leaver)
    _ok(
        counselor.post(
            f"/api/v1/residents/{leaver}/status",
            json={"status": "moved_out"},
            headers={"If-Match": _version(counselor, leaver)},
        )
    )
    erased = register(counselor)["id"]
    dispatch_request(counselor, resident_id=erased)
    external_referral(counselor, erased)
    _ok(supervisor.post(f"/api/v1/residents/{erased}/erasure", json={"reason": "파기 요청"}))
    return {
        "member": member,
        "worked": worked,
        "done": done["id"],
        "completed": completed["id"],
        "declined": declined["id"],
        "moved_dispatch": moved_dispatch["id"],
        "moved_referral": moved_referral["id"],
        "left": left["id"],
    }


def test_history_labels_match_what_the_services_write(app: Flask, login_as: Any) -> None:
    made = _every_path(app, login_as)
    member, worked = made["member"], made["worked"]
    with get_database(app).new_session() as s:
        dispatch_events = list(s.scalars(select(DispatchEvent)))
        referral_events = list(s.scalars(select(ReferralEvent)))
    assert {e.kind for e in dispatch_events} == set(dispatch.EVENTS)
    assert {e.kind for e in referral_events} == set(partners.EVENTS)
    whys = {e.detail["why"] for e in [*dispatch_events, *referral_events] if "why" in e.detail}
    assert whys == set(base.ENDED_BECAUSE)
    labels = [*dispatch.EVENTS.values(), *partners.EVENTS.values(), *base.ENDED_BECAUSE.values()]
    assert all(label and not label.isascii() for label in labels)

    client = console_login(app, member)
    before = _records(app, member.id)
    page = client.get(f"/dispatches/{made['done']}")
    # Showing the history is the page's one read, recorded as every detail page's.
    assert _records(app, member.id)[len(before) :] == [("read", [worked])]
    assert page.status_code == 200
    shown = _history(page.get_data(as_text=True))
    order = ["요청", "배정", "다시 배정", "출발", "현장 도착", "끝남"]
    positions = [shown.index(f"<strong>{label}</strong>") for label in order]
    assert positions == sorted(positions)
    assert "→ 두당번" in shown and "→ 한상담" in shown and "만남 · 지원 불필요" in shown
    assert "· 한상담" in shown  # who did it, by display name
    assert "경과순" not in shown  # codes, states and staff only: nobody's name or address
    requested = min(e.at for e in dispatch_events if str(e.dispatch_id) == made["done"])
    first = requested.astimezone(base.SEOUL).strftime("%Y-%m-%d %H:%M")
    assert first in shown  # Seoul time
    assert_no_personal_data_in_urls(page, "경과순")

    cancelled_page = client.get(f"/dispatches/{made['moved_dispatch']}").get_data(as_text=True)
    assert "남음" not in cancelled_page and "지남" not in cancelled_page  # no deadline to meet
    cancelled = _history(cancelled_page)
    assert "<strong>동 이동</strong> 가산동 → 독산1동" in cancelled
    assert "(동 이동)" in cancelled
    assert "<strong>취소</strong>" in cancelled and "(주민 사망)" in cancelled
    withdrawn = _history(client.get(f"/referrals/{made['moved_referral']}").get_data(as_text=True))
    assert "<strong>보냄</strong>" in withdrawn and "<strong>동 이동</strong>" in withdrawn
    assert "<strong>철회</strong>" in withdrawn and "(주민 사망)" in withdrawn
    gone = _history(client.get(f"/dispatches/{made['left']}").get_data(as_text=True))
    assert "(전출)" in gone

    referral_page = client.get(f"/referrals/{made['completed']}")
    assert referral_page.status_code == 200
    answered = _history(referral_page.get_data(as_text=True))
    assert [answered.index(f"<strong>{k}</strong>") for k in ("보냄", "수락", "완료")] == sorted(
        answered.index(f"<strong>{k}</strong>") for k in ("보냄", "수락", "완료")
    )
    declined_page = client.get(f"/referrals/{made['declined']}").get_data(as_text=True)
    assert "<strong>거절</strong>" in _history(declined_page)


def test_an_entry_by_someone_outside_my_dongs_or_by_the_system_is_named_so() -> None:
    class Entry:
        def __init__(self, kind: str, by: uuid.UUID | None, **detail: Any) -> None:
            self.at, self.kind, self.actor_staff_id, self.detail = None, kind, by, detail

    mine, theirs = uuid.uuid4(), uuid.uuid4()
    rows = base.history_rows(
        [
            Entry("requested", mine),
            Entry("moved", theirs, why="resident_moved"),
            Entry("cancelled", None, why="resident_erased"),
        ],
        dispatch.EVENTS,
        {mine: "한상담"},
    )
    assert [(r.label, r.why, r.who) for r in rows] == [
        ("요청", None, "한상담"),
        ("동 이동", "동 이동", "직원"),
        ("취소", "파기", "시스템"),
    ]
