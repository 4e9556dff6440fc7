"""Helpers for the console's pages: log in through the login form, read a page's CSRF token,
post forms the way a browser does, and find every URL a page links or posts to."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.staff import GASAN, PASSWORD, make_staff
from welfare.models import Staff

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_login(
    app: Flask, member: Staff, password: str = PASSWORD, otp: str | None = None
) -> FlaskClient:
    """A client logged in through GET and POST /login, as a browser would."""
    client = app.test_client()
    form = client.get("/login")
    assert form.status_code == 200
    data = {"csrf_token": csrf_in(form), "username": member.username, "password": password}
    if otp is not None:
        data["otp"] = otp
    response = client.post("/login", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    client.staff = member  # type: ignore[attr-defined]  # tests read who the client is
    return client


def console_as(app: Flask, role: str = "counselor", dongs: Sequence[str] = (GASAN,)) -> FlaskClient:
    return console_login(app, make_staff(app, role, dongs))


def csrf_in(response: TestResponse) -> str:
    found = CSRF_INPUT.search(response.get_data(as_text=True))
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def csrf_of(client: FlaskClient, page: str = "/") -> str:
    return csrf_in(client.get(page))


def post_form(
    client: FlaskClient, path: str, data: dict[str, Any] | None = None, *, page: str = "/"
) -> TestResponse:
    """POST `data` with the session's CSRF token read from `page`, as the page's form would."""
    return client.post(path, data={"csrf_token": csrf_of(client, page), **(data or {})})


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("href", "action", "src", "hx-get", "hx-post", "formaction"):
                self.urls.append(value)


def urls_in(response: TestResponse) -> list[str]:
    """Every URL the page links to, loads or posts to."""
    parser = _Links()
    parser.feed(response.get_data(as_text=True))
    return parser.urls


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def assert_no_personal_data_in_urls(response: TestResponse, *secrets: str) -> None:
    """No URL on the page (nor the page's own Location) carries any of `secrets`, nor anything
    shaped like an RRN or a phone number."""
    urls = [*urls_in(response), response.headers.get("Location", "")]
    shaped = re.compile(r"(?<!\d)(\d{6}-?[1-8]\d{6}|01[016789]-?\d{3,4}-?\d{4})(?!\d)")
    for url in urls:
        # A record id is random hex: "…-a017-24970499c0c3" is not a phone number.
        assert not shaped.search(_UUID.sub("<id>", url)), url
        for secret in secrets:
            assert secret not in url, url


class _Controls(HTMLParser):
    """Form controls a person fills in, and the labels on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.inside_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.inside_label += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        elif tag in ("input", "select", "textarea") and found.get("type") not in (
            "hidden",
            "submit",
        ):
            self.controls.append({**found, "wrapped": "yes" if self.inside_label else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.inside_label -= 1


def unlabelled_controls(response: TestResponse) -> list[str]:
    """Controls with neither a <label for> nor a wrapping <label> (by name, for the message)."""
    parser = _Controls()
    parser.feed(response.get_data(as_text=True))
    return [
        str(c.get("name"))
        for c in parser.controls
        if not c["wrapped"] and c.get("id") not in parser.label_for
    ]
