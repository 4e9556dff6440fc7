"""RRN typos must not create people twice: a failed check digit for someone born before October
2020 needs a confirmation, absurd birth dates are refused, and a probable duplicate (same name and
birth date in scope) needs a stated reason, which the access record keeps."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.support.casework import with_check_digit
from tests.support.staff import DOKSAN1, GASAN
from welfare.database import Database
from welfare.models import AuditEvent


def post(client: Any, **body: Any) -> Any:
    return client.post("/api/v1/residents", json={"name": "박말순", "dong": GASAN, **body})


def test_a_failed_check_digit_before_october_2020_must_be_confirmed(login_as: Any) -> None:
    client = login_as("counselor")
    typo = post(client, rrn="480315-2123450")  # the check digit should be 9
    assert typo.status_code == 422
    assert typo.get_json()["code"] == "rrn_checksum_unconfirmed"
    assert "rrn_reissued" in typo.get_json()["errors"]["rrn"][0]
    assert "2123450" not in typo.get_data(as_text=True)
    confirmed = post(client, rrn="480315-2123450", rrn_reissued=True)
    assert confirmed.status_code == 201


def test_the_right_check_digit_and_numbers_issued_since_october_2020_need_nothing(
    login_as: Any,
) -> None:
    client = login_as("counselor")
    assert post(client, rrn="480315-2123459").status_code == 201
    # Born in 2021: the last six digits are random by design, whatever the check digit says.
    assert post(client, rrn="210105-4823917", name="김아기").status_code == 201


def test_a_birth_date_more_than_125_years_ago_is_invalid(login_as: Any) -> None:
    client = login_as("counselor")
    ancient = post(client, rrn=with_check_digit("480315912345"))  # 9: born in 1848
    assert ancient.status_code == 422
    assert "125" in ancient.get_json()["errors"]["rrn"][0]


def test_spaces_around_the_hyphen_are_tolerated(login_as: Any) -> None:
    client = login_as("counselor")
    spaced = post(client, rrn="480315 - 2123459")
    assert spaced.status_code == 201
    assert spaced.get_json()["rrn_masked"] == "480315-2******"


def test_a_probable_duplicate_needs_a_reason_that_the_access_record_keeps(
    login_as: Any, db: Database
) -> None:
    client = login_as("counselor")
    first = post(client, rrn=with_check_digit("480315212345")).get_json()
    other_number = with_check_digit("480315254321")  # same name, same birth date, another RRN
    warned = post(client, rrn=other_number)
    assert warned.status_code == 409
    assert warned.get_json()["code"] == "possible_duplicate"
    assert warned.get_json()["candidate_ids"] == [first["id"]]
    with db.new_session() as s:
        refusal = s.scalars(
            select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        ).first()
    assert refusal is not None
    assert (refusal.action, refusal.outcome, refusal.resident_ids) == (
        "create",
        "conflict",
        [first["id"]],
    )
    overridden = post(client, rrn=other_number, possible_duplicate_reason="동명이인, 주소 다름")
    assert overridden.status_code == 201
    with db.new_session() as s:
        record = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "create")
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        ).first()
    assert record is not None
    assert record.resident_ids == [overridden.get_json()["id"]]
    assert record.reason is not None and "동명이인, 주소 다름" in record.reason


@pytest.mark.parametrize(
    "different",
    [
        {"name": "박말숙"},  # another name
        {"rrn": with_check_digit("480316212345")},  # another birth date
        {"rrn": with_check_digit("480315112345")},  # another sex
    ],
)
def test_only_the_same_name_birth_date_and_sex_is_a_probable_duplicate(
    login_as: Any, different: dict[str, str]
) -> None:
    client = login_as("counselor")
    assert post(client, rrn=with_check_digit("480315212345")).status_code == 201
    body = {"rrn": with_check_digit("480315299999"), **different}
    assert post(client, **body).status_code == 201


def test_a_namesake_in_another_dong_is_not_shown_or_counted(login_as: Any) -> None:
    assert post(login_as("counselor"), rrn=with_check_digit("480315212345")).status_code == 201
    elsewhere = login_as("counselor", (DOKSAN1,))
    response = elsewhere.post(
        "/api/v1/residents",
        json={"name": "박말순", "dong": DOKSAN1, "rrn": with_check_digit("480315254321")},
    )
    assert response.status_code == 201
