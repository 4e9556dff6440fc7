"""Admin pages: staff accounts, gateway tokens shown once, dongs and roles; admins only, the
same rules as /api/v1/staff (nobody changes their own rights; stale versions are refused)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.support.console import console_as, console_login, post_form
from tests.support.staff import GASAN, make_staff


def test_create_change_and_deactivate_a_member(app: Flask, login_as: Any) -> None:
    admin = console_as(app, "admin", ())
    listing = admin.get("/admin/staff")
    assert listing.status_code == 200
    created = post_form(
        admin,
        "/admin/staff",
        {
            "username": "new.counselor",
            "role": "counselor",
            "display_name": "김신입",
            "dongs": GASAN,
            "password": "a long and unusual passphrase 42",
        },
        page="/admin/staff",
    )
    assert created.status_code == 303, created.get_data(as_text=True)
    path = created.headers["Location"].split("?")[0]
    page = admin.get(path).get_data(as_text=True)
    assert "new.counselor" in page and "김신입" in page
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    changed = post_form(
        admin,
        path,
        {"role": "outreach", "display_name": "김신입", "dongs": GASAN, "version": version.group(1)},
        page=path,
    )
    assert changed.status_code == 303
    stale = post_form(
        admin,
        path,
        {
            "role": "counselor",
            "display_name": "김신입",
            "dongs": GASAN,
            "version": version.group(1),
        },
        page=path,
    )
    assert stale.status_code == 412
    assert "방문 요원" in admin.get(path).get_data(as_text=True)
    assert post_form(admin, f"{path}/deactivate", page=path).status_code == 303
    assert "비활성" in admin.get(path).get_data(as_text=True)


def test_an_admin_cannot_change_their_own_role(app: Flask) -> None:
    member = make_staff(app, "admin", ())
    admin = console_login(app, member)
    path = f"/admin/staff/{member.id}"
    page = admin.get(path).get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    refused = post_form(
        admin, path, {"role": "counselor", "dongs": GASAN, "version": version.group(1)}, page=path
    )
    assert refused.status_code == 403


# Every console admin route under a member's id, posted by an admin on their own account: each
# that grants or takes rights is refused (403), like the API's own_rights_change.
CONSOLE_SELF_POSTS = {
    "/admin/staff/<uuid:staff_id>/deactivate": {},
    "/admin/staff/<uuid:staff_id>/unlock": {},
    "/admin/staff/<uuid:staff_id>/totp-reset": {},
    "/admin/staff/<uuid:staff_id>/tokens": {"label": "me"},
}


def test_every_console_rights_change_on_oneself_is_refused(app: Flask) -> None:
    posts = {
        str(rule)
        for rule in app.url_map.iter_rules()
        if str(rule).startswith("/admin/staff/<uuid:staff_id>/")
        and "POST" in (rule.methods or set())
        and "<uuid:token_id>" not in str(rule)
    }
    assert posts == CONSOLE_SELF_POSTS.keys()
    member = make_staff(app, "admin", ())
    admin = console_login(app, member)
    own = f"/admin/staff/{member.id}"
    for rule, form in CONSOLE_SELF_POSTS.items():
        path = rule.replace("<uuid:staff_id>", str(member.id))
        assert post_form(admin, path, form, page=own).status_code == 403, path


def test_a_gateway_token_is_shown_once_on_the_answer_and_never_in_a_url(app: Flask) -> None:
    gateway = make_staff(app, "gateway", (GASAN,))
    admin = console_as(app, "admin", ())
    path = f"/admin/staff/{gateway.id}"
    issued = post_form(admin, f"{path}/tokens", {"label": "센서"}, page=path)
    assert issued.status_code == 200
    token = re.search(r'<code class="token">([^<]+)</code>', issued.get_data(as_text=True))
    assert token
    assert token.group(1) not in admin.get(path).get_data(as_text=True)
    token_id = re.search(r"/tokens/([0-9a-f-]{36})/revoke", admin.get(path).get_data(as_text=True))
    assert token_id
    revoked = post_form(admin, f"{path}/tokens/{token_id.group(1)}/revoke", page=path)
    assert revoked.status_code == 303
    assert "폐기됨" in admin.get(path).get_data(as_text=True)


def test_dongs_and_roles_pages(app: Flask) -> None:
    admin = console_as(app, "admin", ())
    dongs = admin.get("/admin/dongs").get_data(as_text=True)
    assert "가산동" in dongs and GASAN in dongs
    roles = admin.get("/admin/roles").get_data(as_text=True)
    assert "<code>/dashboard</code>" in roles and "상담사" in roles


def test_only_admins_reach_the_admin_pages(app: Flask) -> None:
    for role in ("counselor", "outreach", "supervisor"):
        client = console_as(app, role)
        for path in ("/admin/staff", "/admin/dongs", "/admin/roles"):
            assert client.get(path).status_code == 403, (role, path)
