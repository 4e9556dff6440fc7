"""One name for "the staff member this goes to": `assignee_id`, on follow-ups, care requests and
cases alike; the older names stay accepted where outside clients already send them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask

from tests.support.casework import care_request, open_case, raise_lapse, register
from tests.support.staff import GASAN


@pytest.fixture
def team(login_as: Any) -> tuple[Any, Any]:
    return login_as("counselor", (GASAN,)), login_as("outreach", (GASAN,))


def test_follow_ups_care_requests_and_cases_all_take_assignee_id(
    app: Flask, team: tuple[Any, Any]
) -> None:
    counselor, colleague = team
    to = str(colleague.staff.id)
    followup = raise_lapse(app, counselor)
    assigned = counselor.post(f"/api/v1/followups/{followup}/assign", json={"assignee_id": to})
    assert (assigned.status_code, assigned.get_json()["assignee_id"]) == (200, to)
    request = care_request(counselor).get_json()
    handed = counselor.post(
        f"/api/v1/care-requests/{request['id']}/handover", json={"assignee_id": to}
    )
    assert (handed.status_code, handed.get_json()["assignee_id"]) == (200, to)
    case = open_case(counselor, register(counselor)["id"], assignee_id=to)
    assert (case.status_code, case.get_json()["assignee_id"]) == (201, to)


@pytest.mark.parametrize(
    ("path", "legacy"),
    [
        ("/api/v1/followups/{id}/assign", "staff_id"),
        ("/api/v1/care-requests/{id}/handover", "to_staff_id"),
    ],
)
def test_the_older_name_still_works_and_two_different_names_are_refused(
    app: Flask, team: tuple[Any, Any], path: str, legacy: str
) -> None:
    counselor, colleague = team
    target = (
        raise_lapse(app, counselor)
        if "followups" in path
        else care_request(counselor).get_json()["id"]
    )
    url = path.format(id=target)
    nobody = counselor.post(url, json={})
    assert nobody.status_code == 422 and "assignee_id" in nobody.get_json()["errors"]
    both = counselor.post(
        url, json={"assignee_id": str(colleague.staff.id), legacy: str(uuid.uuid4())}
    )
    assert both.status_code == 422 and "assignee_id" in both.get_json()["errors"]
    older = counselor.post(url, json={legacy: str(colleague.staff.id)})
    assert older.status_code == 200
    assert older.get_json()["assignee_id"] == str(colleague.staff.id)
