"""Contacts can be read back: the Location a logged contact answers with works, a resident's
contacts page newest first, and notes open only for the roles that may read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from tests.support.casework import register
from tests.support.staff import DOKSAN1, GASAN


def log(client: Any, resident_id: str, *, note: str | None = None, ago: int = 0) -> Any:
    at = datetime.now(UTC) - timedelta(minutes=ago)
    body = {
        "resident_id": resident_id,
        "channel": "visit",
        "outcome": "reached",
        "occurred_at": at.isoformat(),
    }
    if note:
        body["note"] = note
    response = client.post("/api/v1/contacts", json=body)
    assert response.status_code == 201, response.get_json()
    return response


def test_the_location_of_a_logged_contact_answers_with_the_contact_and_its_note(
    login_as: Any,
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    created = log(counselor, rid, note="식사 잘 하심")
    read = counselor.get(created.headers["Location"])
    assert read.status_code == 200
    body = read.get_json()
    assert (body["id"], body["resident_id"], body["note"], body["source"]) == (
        created.get_json()["id"],
        rid,
        "식사 잘 하심",
        "staff",
    )
    assert body["staff_id"] == str(counselor.staff.id) and body["note_unreadable"] is False


def test_notes_open_for_counselors_and_the_author_only(login_as: Any) -> None:
    counselor = login_as("counselor")
    author, other = login_as("outreach"), login_as("outreach")
    rid = register(counselor)["id"]
    url = log(author, rid, note="무릎 통증 호소").headers["Location"]
    assert author.get(url).get_json()["note"] == "무릎 통증 호소"
    assert counselor.get(url).get_json()["note"] == "무릎 통증 호소"
    seen_by_other = other.get(url).get_json()
    assert seen_by_other["note"] is None and seen_by_other["channel"] == "visit"


def test_a_residents_contacts_page_newest_first_and_show_on_the_timeline(
    login_as: Any,
) -> None:
    counselor = login_as("counselor")
    rid = register(counselor)["id"]
    ids = [log(counselor, rid, note=f"메모 {i}", ago=10 - i).get_json()["id"] for i in range(5)]
    first = counselor.get(f"/api/v1/residents/{rid}/contacts?limit=3").get_json()
    second = counselor.get(
        f"/api/v1/residents/{rid}/contacts", query_string={"cursor": first["next_cursor"]}
    ).get_json()
    assert [c["id"] for c in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    timeline = counselor.get(f"/api/v1/residents/{rid}/timeline").get_json()["items"]
    contacts = [e for e in timeline if e["kind"] == "contact"]
    assert [(e["contact_id"], e["note"]) for e in contacts] == [
        (i, f"메모 {n}") for n, i in reversed(list(enumerate(ids)))
    ]


def test_another_dongs_contact_is_a_404(app: Flask, login_as: Any) -> None:
    counselor = login_as("counselor", (GASAN,))
    url = log(counselor, register(counselor)["id"], note="x").headers["Location"]
    assert login_as("counselor", (DOKSAN1,)).get(url).status_code == 404
