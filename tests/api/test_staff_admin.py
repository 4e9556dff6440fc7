"""Staff administration: admins manage accounts; rights changes end sessions at once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from services import auth
from services import staff as staff_service
from tests.api.test_route_policies import routes
from tests.support.staff import DOKSAN1, GASAN, PASSWORD, log_in, make_staff
from welfare.models import AccessRightChange, ApiToken, AuditEvent, Staff
from welfare.web import get_database

ME = "/api/v1/auth/me"


def test_an_admin_creates_lists_and_reads_staff(login_as: Any) -> None:
    admin = login_as("admin", dongs=())
    created = admin.post(
        "/api/v1/staff",
        json={
            "username": "park.outreach",
            "role": "outreach",
            "dongs": [GASAN, DOKSAN1],
            "display_name": "박민지",
            "password": "field worker passphrase 1",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["dongs"] == [GASAN, DOKSAN1]
    assert created.headers["Location"] == f"/api/v1/staff/{body['id']}"
    assert created.headers["ETag"] == '"v1"'
    listed = admin.get("/api/v1/staff?limit=200").get_json()["items"]
    assert "park.outreach" in [m["username"] for m in listed]
    assert "password" not in str(listed)
    assert admin.get(f"/api/v1/staff/{body['id']}").get_json()["display_name"] == "박민지"


def test_staff_creation_validates_every_field(login_as: Any) -> None:
    admin = login_as("admin", dongs=())
    response = admin.post(
        "/api/v1/staff",
        json={"username": "x", "role": "wizard", "dongs": ["123"], "password": "short"},
    )
    assert response.status_code == 422
    assert {"username", "role", "dongs"} <= set(response.get_json()["errors"])
    unknown_dong = admin.post(
        "/api/v1/staff",
        json={
            "username": "lee.c",
            "role": "counselor",
            "dongs": ["1111111111"],
            "password": "a perfectly fine passphrase",
        },
    )
    assert unknown_dong.status_code == 422
    assert "dongs" in unknown_dong.get_json()["errors"]


def test_a_taken_username_is_a_conflict(login_as: Any) -> None:
    admin = login_as("admin", dongs=())
    payload = {"username": "choi.s", "role": "counselor", "password": "a perfectly fine passphrase"}
    assert admin.post("/api/v1/staff", json=payload).status_code == 201
    again = admin.post("/api/v1/staff", json=payload)
    assert again.status_code == 409
    assert again.get_json()["code"] == "username_taken"


def test_a_username_taken_between_the_check_and_the_insert_is_a_conflict(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins create the same username at once: the loser's check ran before the winner
    committed, so its insert hits the unique constraint. That is a 409, not a 500."""
    admin = log_in(app, make_staff(app, "admin", dongs=()))
    make_staff(app, "counselor", username="han.j")  # the winner
    checks: list[str] = []
    check = staff_service._refuse_taken

    def check_racing_the_winner(session: Session, username: str) -> None:
        checks.append(username)
        if len(checks) > 1:  # the first check ran before the winner's commit: it saw nothing
            check(session, username)

    monkeypatch.setattr(staff_service, "_refuse_taken", check_racing_the_winner)
    payload = {"username": "han.j", "role": "counselor", "password": "a perfectly fine passphrase"}
    response = admin.post("/api/v1/staff", json=payload)
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["code"] == "username_taken"
    assert checks == ["han.j", "han.j"]


def test_list_pages_with_a_cursor(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    for _ in range(4):
        make_staff(app, "counselor")
    first = admin.get("/api/v1/staff?limit=2").get_json()
    second = admin.get(f"/api/v1/staff?limit=2&cursor={first['next_cursor']}").get_json()
    names = [m["username"] for m in first["items"] + second["items"]]
    assert len(names) == len(set(names)) == 4
    assert names == sorted(names)
    assert admin.get("/api/v1/staff?cursor=garbage").status_code == 422


def test_a_role_change_needs_a_current_etag_and_ends_the_members_sessions(
    login_as: Any, app: Flask
) -> None:
    admin = login_as("admin", dongs=())
    member = make_staff(app, "counselor")
    members_client = log_in(app, member)
    url = f"/api/v1/staff/{member.id}"
    assert admin.patch(url, json={"role": "supervisor"}).status_code == 428
    assert (
        admin.patch(url, json={"role": "supervisor"}, headers={"If-Match": '"v99"'}).status_code
        == 412
    )
    etag = admin.get(url).headers["ETag"]
    changed = admin.patch(
        url, json={"role": "supervisor", "dongs": [DOKSAN1]}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.get_json()["role"] == "supervisor"
    assert changed.headers["ETag"] != etag
    assert members_client.get(ME).status_code == 401
    stale = admin.patch(url, json={"display_name": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412


def test_owner_and_state_fields_cannot_be_mass_assigned(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    member = make_staff(app, "counselor")
    etag = admin.get(f"/api/v1/staff/{member.id}").headers["ETag"]
    response = admin.patch(
        f"/api/v1/staff/{member.id}",
        json={"is_active": False, "id": "x"},
        headers={"If-Match": etag},
    )
    assert response.status_code == 422
    assert {"is_active", "id"} <= set(response.get_json()["errors"])


def test_deactivation_ends_sessions_and_revokes_tokens(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    member = make_staff(app, "counselor")
    members_client = log_in(app, member)
    issued = members_client.post(
        "/api/v1/auth/tokens", json={"password": PASSWORD, "label": "script"}
    ).get_json()
    bearer = app.test_client()
    bearer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {issued['token']}"
    assert bearer.get(ME).status_code == 200
    assert admin.post(f"/api/v1/staff/{member.id}/deactivate").status_code == 200
    assert members_client.get(ME).status_code == 401
    assert bearer.get(ME).status_code == 401
    relogin = app.test_client().post(
        "/api/v1/auth/login", json={"username": member.username, "password": PASSWORD}
    )
    assert relogin.status_code == 401


def test_an_admin_unlocks_a_locked_account(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    member = make_staff(app, "outreach")
    client = app.test_client()
    for _ in range(5):
        client.post(
            "/api/v1/auth/login", json={"username": member.username, "password": "wrong password!!"}
        )
    assert admin.get(f"/api/v1/staff/{member.id}").get_json()["is_locked"] is True
    assert admin.post(f"/api/v1/staff/{member.id}/unlock").get_json()["is_locked"] is False
    ok = client.post("/api/v1/auth/login", json={"username": member.username, "password": PASSWORD})
    assert ok.status_code == 200


def test_tokens_are_shown_once_stored_hashed_and_revocable(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    gateway = make_staff(app, "gateway")
    issued = admin.post(f"/api/v1/staff/{gateway.id}/tokens", json={"label": "sensor platform"})
    assert issued.status_code == 201
    token = issued.get_json()["token"]
    listed = admin.get(f"/api/v1/staff/{gateway.id}/tokens").get_json()["items"]
    assert [t["label"] for t in listed] == ["sensor platform"]
    assert all(t.get("token") is None for t in listed)
    with get_database(app).new_session() as s:
        row = s.scalars(select(ApiToken)).one()
        assert row.token_hash == auth.token_digest(token)
        assert token.encode() not in row.token_hash
        assert row.last_used_at is None
    bearer = app.test_client()
    bearer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert bearer.get("/api/v1/dongs").status_code == 403  # a gateway reads nothing
    with get_database(app).new_session() as s:
        assert s.scalars(select(ApiToken)).one().last_used_at is not None
    token_id = issued.get_json()["id"]
    assert admin.delete(f"/api/v1/staff/{gateway.id}/tokens/{token_id}").status_code == 204
    assert bearer.get("/api/v1/dongs").status_code == 401


def test_a_bearer_request_needs_no_csrf_header(login_as: Any, app: Flask) -> None:
    admin = login_as("admin", dongs=())
    token = admin.post("/api/v1/auth/tokens", json={"password": PASSWORD}).get_json()["token"]
    script = app.test_client()
    script.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = script.post("/api/v1/staff", json={"username": "bulk.import", "role": "gateway"})
    assert response.status_code == 201


def test_non_admins_cannot_administer_staff(login_as: Any) -> None:
    for role in ("counselor", "outreach", "supervisor"):
        assert login_as(role).get("/api/v1/staff").status_code == 403


# -- nobody changes their own rights -------------------------------------------------------------

# Every staff-administration route and method, called by an admin on their own account: what it
# sends and what it must answer. 403 means own_rights_change, with an access_denied record.
# Generated coverage below fails when a route under /api/v1/staff/<id> is missing here.
SELF_CALLS: dict[tuple[str, str], list[tuple[dict[str, Any] | None, int]]] = {
    ("GET", "/api/v1/staff/<uuid:staff_id>"): [(None, 200)],
    ("PATCH", "/api/v1/staff/<uuid:staff_id>"): [
        ({"role": "counselor", "dongs": [GASAN, DOKSAN1]}, 403),
        ({"role": "counselor"}, 403),
        ({"dongs": [GASAN]}, 403),
        ({"role": "admin", "dongs": [], "display_name": "관리자"}, 200),  # no rights change
    ],
    ("POST", "/api/v1/staff/<uuid:staff_id>/deactivate"): [(None, 403)],
    ("POST", "/api/v1/staff/<uuid:staff_id>/unlock"): [(None, 403)],
    ("POST", "/api/v1/staff/<uuid:staff_id>/totp/reset"): [(None, 403)],
    ("GET", "/api/v1/staff/<uuid:staff_id>/tokens"): [(None, 200)],
    ("POST", "/api/v1/staff/<uuid:staff_id>/tokens"): [({"label": "me"}, 403)],
    # Revoking takes rights away; an admin may revoke their own (here: an unknown one).
    ("DELETE", "/api/v1/staff/<uuid:staff_id>/tokens/<uuid:token_id>"): [(None, 404)],
}


def test_every_staff_route_has_a_self_call_expectation(app: Flask) -> None:
    # The console's admin pages call the same use cases; tests/console/test_admin.py walks them.
    named = {
        (m, path)
        for _, m, path in routes(app)
        if "<uuid:staff_id>" in path and path.startswith("/api/v1/")
    }
    assert sorted(named ^ SELF_CALLS.keys()) == []


def test_an_admin_changes_none_of_their_own_rights_and_each_attempt_is_recorded(
    app: Flask,
) -> None:
    admin = make_staff(app, "admin", dongs=())
    client = log_in(app, admin)
    wrong: list[tuple[str, str, Any, int]] = []
    for (method, rule), calls in SELF_CALLS.items():
        url = rule.replace("<uuid:staff_id>", str(admin.id)).replace(
            "<uuid:token_id>", str(uuid.uuid4())
        )
        for body, expected in calls:
            before = denials(app, admin.id)
            etag = client.get(f"/api/v1/staff/{admin.id}").headers["ETag"]
            response = client.open(url, method=method, json=body, headers={"If-Match": etag})
            recorded = denials(app, admin.id) - before
            if response.status_code != expected or recorded != (expected == 403):
                wrong.append((method, rule, body, response.status_code))
            elif expected == 403:
                assert response.get_json()["code"] == "own_rights_change"
                assert "본인" in response.get_json()["title"]
    assert wrong == []
    with get_database(app).new_session() as s:
        member = s.get(Staff, admin.id)
        assert member is not None
        assert (member.role, member.dongs, member.is_active) == ("admin", [], True)


def test_an_admin_cannot_make_themself_a_counselor_of_every_dong(app: Flask) -> None:
    """The reported escalation: PATCH one's own account to a counselor role with any dongs,
    then read notes and reveal RRNs as that counselor."""
    admin = make_staff(app, "admin", dongs=())
    client = log_in(app, admin)
    etag = client.get(f"/api/v1/staff/{admin.id}").headers["ETag"]
    response = client.patch(
        f"/api/v1/staff/{admin.id}",
        json={"role": "counselor", "dongs": [GASAN, DOKSAN1]},
        headers={"If-Match": etag},
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "own_rights_change"
    assert client.get("/api/v1/auth/me").get_json()["staff"]["role"] == "admin"
    assert client.get("/api/v1/residents").status_code == 403


def test_granting_a_privileged_role_is_recorded_with_both_parties(
    login_as: Any, app: Flask
) -> None:
    admin = login_as("admin", dongs=())
    created = admin.post(
        "/api/v1/staff",
        json={"username": "new.admin", "role": "admin", "password": "a perfectly fine passphrase"},
    ).get_json()
    member = make_staff(app, "counselor")
    etag = admin.get(f"/api/v1/staff/{member.id}").headers["ETag"]
    admin.patch(
        f"/api/v1/staff/{member.id}", json={"role": "supervisor"}, headers={"If-Match": etag}
    )
    with get_database(app).new_session() as s:
        grants = list(
            s.scalars(
                select(AccessRightChange)
                .where(
                    AccessRightChange.change == "role_granted",
                    AccessRightChange.target_staff_id.in_([uuid.UUID(created["id"]), member.id]),
                )
                .order_by(AccessRightChange.at, AccessRightChange.id)
            )
        )
    assert [(g.target_staff_id, g.before.get("role"), g.after["role"]) for g in grants] == [
        (uuid.UUID(created["id"]), None, "admin"),
        (member.id, "counselor", "supervisor"),
    ]
    assert {(g.actor_staff_id, g.actor_role) for g in grants} == {(admin.staff.id, "admin")}


def test_a_role_given_by_the_cli_is_recorded_as_granted_by_the_cli(app: Flask) -> None:
    member = make_staff(app, "supervisor")
    with get_database(app).new_session() as s:
        grant = s.scalars(
            select(AccessRightChange).where(
                AccessRightChange.target_staff_id == member.id,
                AccessRightChange.change == "role_granted",
            )
        ).one()
    assert (grant.actor_staff_id, grant.actor_role, grant.request_id) == (None, "system", "cli")


def denials(app: Flask, staff_id: uuid.UUID) -> int:
    with get_database(app).new_session() as s:
        return len(
            s.scalars(
                select(AuditEvent.id).where(
                    AuditEvent.staff_id == staff_id, AuditEvent.action == "access_denied"
                )
            ).all()
        )
