"""The mobility support center API: eligibility, the fleet, bookings and assignment without
double-booking, by role and dong, with sealed addresses and names."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import IntegrityError

from config.mobility import load_travel_minutes
from tests.support.casework import register
from tests.support.mobility import (
    assign,
    at,
    book,
    driver,
    eligible,
    ride_body,
    seoul_day,
    vehicle,
)
from tests.support.staff import DOKSAN1, GASAN, SIHEUNG1
from welfare.models import AuditEvent, Ride
from welfare.web import get_database

RIDES = "/api/v1/mobility/rides"


def drive(from_dong: str, to_dong: str) -> int:
    """Minutes in the shipped travel-time matrix."""
    return load_travel_minutes()[from_dong][to_dong]


def sealed_nowhere(connection: Connection, table: str, canary: str) -> None:
    rows = connection.execute(text(f"SELECT * FROM {table}")).all()
    assert rows
    for row in rows:
        for value in row:
            if isinstance(value, bytes | memoryview):
                assert canary.encode() not in bytes(value)
            else:
                assert canary not in str(value)


def ride_state(app: Flask, ride_id: str) -> tuple[str, Any, Any]:
    with get_database(app).new_session() as s:
        ride = s.get(Ride, uuid.UUID(ride_id))
        assert ride is not None
        return ride.state, ride.vehicle_id, ride.pickup_at


# --- eligibility -------------------------------------------------------------------------------


def test_a_counselor_records_an_eligibility_with_a_sealed_evidence_note(
    login_as: Any, connection: Connection
) -> None:
    client = login_as("counselor")
    resident_id = register(client)["id"]
    today = seoul_day(0)
    response = client.post(
        "/api/v1/mobility/eligibility",
        json={
            "resident_id": resident_id,
            "basis": "temporary",
            "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=60)).isoformat(),
            "wheelchair": True,
            "evidence": "카나리아소견서 골절 8주",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["basis"], body["wheelchair"], body["companion_allowed"]) == (
        "temporary",
        True,
        False,
    )
    assert body["evidence"] == "카나리아소견서 골절 8주"
    sealed_nowhere(connection, "mobility_eligibilities", "카나리아소견서")


def test_bad_eligibilities_get_korean_field_errors_and_write_nothing(
    login_as: Any, connection: Connection
) -> None:
    client = login_as("counselor")
    resident_id = register(client)["id"]
    today = seoul_day(0)
    base = {
        "resident_id": resident_id,
        "basis": "frail_elder",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=30)).isoformat(),
    }
    for overrides, field in (
        ({"basis": "tired"}, "basis"),
        ({"valid_until": (today - timedelta(days=1)).isoformat()}, "valid_until"),
        ({"basis": "temporary"}, "evidence"),  # a doctor's note is required
        ({"valid_from": "2026-13-01"}, "valid_from"),
    ):
        response = client.post("/api/v1/mobility/eligibility", json={**base, **overrides})
        assert response.status_code == 422, overrides
        message = response.get_json()["errors"][field][0]
        assert message[0] >= "\uac00", message  # Korean first
    count = connection.execute(text("SELECT count(*) FROM mobility_eligibilities")).scalar()
    assert count == 0


def test_outreach_workers_do_not_manage_eligibility(login_as: Any) -> None:
    counselor, outreach = login_as("counselor"), login_as("outreach")
    resident_id = register(counselor)["id"]
    response = outreach.post(
        "/api/v1/mobility/eligibility",
        json={
            "resident_id": resident_id,
            "basis": "frail_elder",
            "valid_from": "2026-01-01",
            "valid_until": "2027-12-31",
        },
    )
    assert response.status_code == 403


def test_another_dongs_counselor_cannot_grant_eligibility_to_my_resident(login_as: Any) -> None:
    mine = register(login_as("counselor"))["id"]
    response = login_as("counselor", (DOKSAN1,)).post(
        "/api/v1/mobility/eligibility",
        json={
            "resident_id": mine,
            "basis": "frail_elder",
            "valid_from": "2026-01-01",
            "valid_until": "2027-12-31",
        },
    )
    assert response.status_code == 404


# --- the fleet ---------------------------------------------------------------------------------


def test_supervisors_manage_the_fleet_and_others_only_read_it(login_as: Any) -> None:
    supervisor, counselor = login_as("supervisor"), login_as("counselor")
    vehicle_id = vehicle(supervisor, seats=5, wheelchair_spaces=2)
    denied = counselor.post(
        "/api/v1/mobility/vehicles",
        json={"plate": "서울99가0001", "seats": 4, "wheelchair_spaces": 1},
    )
    assert denied.status_code == 403
    listed = counselor.get("/api/v1/mobility/vehicles").get_json()["items"]
    found = next(v for v in listed if v["id"] == vehicle_id)
    assert (found["seats"], found["wheelchair_spaces"], found["active"]) == (5, 2, True)
    assert (found["service_start"], found["service_end"]) == ("06:00", "23:00")


def test_a_plate_is_registered_once_and_spaces_never_exceed_seats(login_as: Any) -> None:
    supervisor = login_as("supervisor")
    body = {"plate": "서울70아1234", "seats": 4, "wheelchair_spaces": 1}
    assert supervisor.post("/api/v1/mobility/vehicles", json=body).status_code == 201
    again = supervisor.post("/api/v1/mobility/vehicles", json=body)
    assert (again.status_code, again.get_json()["code"]) == (409, "plate_taken")
    too_many = supervisor.post(
        "/api/v1/mobility/vehicles", json={**body, "plate": "서울70아9999", "wheelchair_spaces": 5}
    )
    assert too_many.status_code == 422
    assert "wheelchair_spaces" in too_many.get_json()["errors"]


def test_a_vehicle_is_deactivated_with_if_match(login_as: Any) -> None:
    supervisor = login_as("supervisor")
    vehicle_id = vehicle(supervisor)
    url = f"/api/v1/mobility/vehicles/{vehicle_id}"
    assert supervisor.patch(url, json={"active": False}).status_code == 428
    stale = supervisor.patch(url, json={"active": False}, headers={"If-Match": '"v7"'})
    assert stale.status_code == 412
    done = supervisor.patch(url, json={"active": False}, headers={"If-Match": '"v1"'})
    assert done.status_code == 200 and done.get_json()["active"] is False
    assert done.headers["ETag"] == '"v2"'


def test_a_drivers_name_is_sealed_and_read_back(login_as: Any, connection: Connection) -> None:
    supervisor = login_as("supervisor")
    driver_id = driver(supervisor, "카나리아운전원")
    sealed_nowhere(connection, "mobility_drivers", "카나리아운전원")
    listed = login_as("outreach").get("/api/v1/mobility/drivers").get_json()["items"]
    assert {"id": driver_id, "name": "카나리아운전원"}.items() <= next(
        d for d in listed if d["id"] == driver_id
    ).items()


# --- bookings ----------------------------------------------------------------------------------


def test_a_counselor_books_a_ride_with_sealed_addresses(
    login_as: Any, connection: Connection
) -> None:
    client = login_as("counselor")
    resident_id = eligible(client)
    start = at(seoul_day(2), 9, 30)
    response = client.post(
        RIDES,
        json=ride_body(
            resident_id, start, pickup_address="카나리아로 7", wheelchair=True, companions=1
        ),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"{RIDES}/{body['id']}"
    assert (body["state"], body["wheelchair"], body["companions"]) == ("requested", True, 1)
    assert body["pickup_address"] == "카나리아로 7"
    assert (body["pickup_dong"], body["dropoff_dong"], body["dong"]) == (GASAN, SIHEUNG1, GASAN)
    assert body["window_start"].startswith(start.isoformat()[:16])
    sealed_nowhere(connection, "mobility_rides", "카나리아로")


def test_the_window_defaults_to_the_configured_width(login_as: Any) -> None:
    client = login_as("counselor")
    resident_id = eligible(client)
    start = at(seoul_day(1), 14)
    body = ride_body(resident_id, start)
    del body["window_end"]
    response = client.post(RIDES, json=body)
    assert response.status_code == 201, response.get_json()
    got = response.get_json()
    width = datetime.fromisoformat(got["window_end"]) - datetime.fromisoformat(got["window_start"])
    assert width == timedelta(minutes=30)


def test_a_ride_needs_an_eligibility_covering_its_date(login_as: Any) -> None:
    client = login_as("counselor")
    resident_id = register(client)["id"]
    response = client.post(RIDES, json=ride_body(resident_id, at(seoul_day(1), 10)))
    assert response.status_code == 422
    assert response.get_json()["code"] == "not_eligible"
    assert "window_start" in response.get_json()["errors"]


def test_a_wheelchair_or_a_companion_needs_the_eligibility_to_allow_it(login_as: Any) -> None:
    client = login_as("counselor")
    resident_id = eligible(client, wheelchair=False, companion=False)
    start = at(seoul_day(1), 10)
    for overrides, field in (
        ({"wheelchair": True}, "wheelchair"),
        ({"companions": 1}, "companions"),
    ):
        response = client.post(RIDES, json=ride_body(resident_id, start, **overrides))
        assert response.status_code == 422, overrides
        assert response.get_json()["code"] == "not_eligible"
        assert field in response.get_json()["errors"]


def test_bad_bookings_are_422_with_field_errors_and_write_nothing(
    login_as: Any, connection: Connection
) -> None:
    client = login_as("counselor")
    resident_id = eligible(client)
    tomorrow = at(seoul_day(1), 10)
    for overrides, field in (
        ({"window_start": at(seoul_day(0), 0).isoformat()}, "window_start"),  # in the past
        (
            {
                "window_start": at(seoul_day(20), 10).isoformat(),
                "window_end": at(seoul_day(20), 10, 30).isoformat(),
            },
            "window_start",
        ),  # beyond the 14-day horizon
        ({"window_end": (tomorrow - timedelta(minutes=5)).isoformat()}, "window_end"),
        ({"window_end": (tomorrow + timedelta(hours=5)).isoformat()}, "window_end"),  # too wide
        ({"pickup_dong": "1111111111"}, "pickup_dong"),  # not a dong of the district
        ({"dropoff_dong": "11545"}, "dropoff_dong"),
        ({"pickup_address": ""}, "pickup_address"),
        ({"companions": 9}, "companions"),
        ({"state": "assigned"}, "state"),  # never client-writable
    ):
        response = client.post(RIDES, json=ride_body(resident_id, tomorrow, **overrides))
        assert response.status_code == 422, (overrides, response.get_json())
        errors = response.get_json()["errors"]
        assert field in errors, (overrides, errors)
        assert errors[field][0][0] >= "\uac00", errors  # Korean first
    assert connection.execute(text("SELECT count(*) FROM mobility_rides")).scalar() == 0


def test_the_next_day_is_always_bookable_and_a_ride_may_end_in_any_dong(login_as: Any) -> None:
    client = login_as("counselor", (SIHEUNG1,))
    resident_id = eligible(client, SIHEUNG1)
    ride = book(
        client, resident_id, at(seoul_day(1), 22), pickup_dong=SIHEUNG1, dropoff_dong=DOKSAN1
    )
    assert (ride["dong"], ride["dropoff_dong"]) == (SIHEUNG1, DOKSAN1)


def test_a_second_ride_of_the_same_resident_overlapping_in_time_is_a_409(login_as: Any) -> None:
    client = login_as("counselor")
    resident_id = eligible(client)
    first = book(client, resident_id, at(seoul_day(1), 10))
    overlapping = client.post(RIDES, json=ride_body(resident_id, at(seoul_day(1), 10, 20)))
    assert overlapping.status_code == 409
    assert overlapping.get_json()["code"] == "ride_overlaps"
    assert overlapping.get_json()["conflicting_ride_id"] == first["id"]
    # Well after the first ride has arrived: fine (the return trip).
    book(client, resident_id, at(seoul_day(1), 14))


def test_a_retried_booking_answers_the_first_ride_and_another_body_is_refused(
    login_as: Any, connection: Connection
) -> None:
    client = login_as("counselor")
    resident_id = eligible(client)
    body = ride_body(resident_id, at(seoul_day(3), 8), client_ref="ride-ref-0001")
    first = client.post(RIDES, json=body)
    again = client.post(RIDES, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    other = client.post(RIDES, json={**body, "dropoff_dong": DOKSAN1})
    assert (other.status_code, other.get_json()["code"]) == (422, "idempotency_key_reused")
    assert connection.execute(text("SELECT count(*) FROM mobility_rides")).scalar() == 1


def test_rides_of_a_day_are_listed_in_scope_and_paged(login_as: Any) -> None:
    client = login_as("counselor")
    resident_ids = [eligible(client) for _ in range(3)]
    day = seoul_day(2)
    for i, resident_id in enumerate(resident_ids):
        book(client, resident_id, at(day, 9 + i))
    first = client.get(f"{RIDES}?date={day.isoformat()}&limit=2").get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(
        f"{RIDES}?date={day.isoformat()}&limit=2&cursor={first['next_cursor']}"
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert [r["resident"]["name"] for r in first["items"]] == ["이순자", "이순자"]
    elsewhere = login_as("counselor", (DOKSAN1,)).get(f"{RIDES}?date={day.isoformat()}")
    assert elsewhere.status_code == 200 and elsewhere.get_json()["items"] == []
    assert client.get(f"{RIDES}?date=tomorrow").status_code == 422


def test_another_dongs_staff_get_404_and_a_denial_record(app: Flask, login_as: Any) -> None:
    client = login_as("counselor")
    ride = book(client, eligible(client), at(seoul_day(1), 11))
    with get_database(app).new_session() as s:
        before = s.scalar(
            select(func.count()).where(AuditEvent.action == "access_denied").select_from(AuditEvent)
        )
    response = login_as("outreach", (DOKSAN1,)).get(f"{RIDES}/{ride['id']}")
    assert response.status_code == 404
    assert "가산로" not in response.get_data(as_text=True)
    with get_database(app).new_session() as s:
        after = s.scalar(
            select(func.count()).where(AuditEvent.action == "access_denied").select_from(AuditEvent)
        )
    assert after == (before or 0) + 1


# --- assignment --------------------------------------------------------------------------------


def test_a_supervisor_assigns_a_vehicle_a_driver_and_a_pickup(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    ride = book(counselor, eligible(counselor), at(seoul_day(1), 10))
    vehicle_id, driver_id = vehicle(supervisor), driver(supervisor)
    response = assign(supervisor, ride["id"], vehicle_id, driver_id, at(seoul_day(1), 10, 10))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["state"], body["vehicle_id"], body["driver_id"]) == (
        "assigned",
        vehicle_id,
        driver_id,
    )
    # Gasan to Siheung 1: 10 minutes boarding, the matrix's drive, 10 minutes turnaround.
    busy = datetime.fromisoformat(body["busy_until"]) - datetime.fromisoformat(body["pickup_at"])
    assert busy == timedelta(minutes=10 + drive(GASAN, SIHEUNG1) + 10)
    assert (
        login_as("counselor")
        .post(
            f"{RIDES}/{ride['id']}/assign",
            json={"vehicle_id": vehicle_id, "driver_id": driver_id, "pickup_at": body["pickup_at"]},
        )
        .status_code
        == 403
    )


def test_one_vehicle_or_driver_in_two_places_at_once_is_a_409_naming_the_ride(
    app: Flask, login_as: Any
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(1)
    first = book(counselor, eligible(counselor), at(day, 10))
    second = book(counselor, eligible(counselor), at(day, 10, 15))
    v1, v2, d1, d2 = (
        vehicle(supervisor),
        vehicle(supervisor),
        driver(supervisor),
        driver(supervisor),
    )
    assert assign(supervisor, first["id"], v1, d1, at(day, 10)).status_code == 200
    for vehicle_id, driver_id, resource in ((v1, d2, "vehicle"), (v2, d1, "driver")):
        response = assign(supervisor, second["id"], vehicle_id, driver_id, at(day, 10, 30))
        assert response.status_code == 409
        problem = response.get_json()
        assert (problem["code"], problem["resource"]) == ("double_booked", resource)
        assert problem["conflicting_ride_id"] == first["id"]
    assert ride_state(app, second["id"])[:2] == ("requested", None)  # nothing partial
    # Another vehicle and driver: fine.
    assert assign(supervisor, second["id"], v2, d2, at(day, 10, 30)).status_code == 200


def test_back_to_back_intervals_do_not_overlap(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(1)
    first = book(counselor, eligible(counselor), at(day, 10))
    second = book(counselor, eligible(counselor), at(day, 10, 40))
    v, d = vehicle(supervisor), driver(supervisor)
    body = assign(supervisor, first["id"], v, d, at(day, 10)).get_json()
    free_at = datetime.fromisoformat(body["busy_until"])
    assert free_at == at(day, 10, 20 + drive(GASAN, SIHEUNG1))
    just_before = free_at - timedelta(minutes=1)
    assert assign(supervisor, second["id"], v, d, just_before).status_code == 409
    assert assign(supervisor, second["id"], v, d, free_at).status_code == 200


def test_a_conflict_in_another_dong_does_not_name_the_ride(login_as: Any) -> None:
    mine, theirs = login_as("counselor"), login_as("counselor", (DOKSAN1,))
    supervisor = login_as("supervisor")
    other_supervisor = login_as("supervisor", (DOKSAN1,))
    day = seoul_day(1)
    their_ride = book(theirs, eligible(theirs, DOKSAN1), at(day, 12), pickup_dong=DOKSAN1)
    my_ride = book(mine, eligible(mine), at(day, 12))
    v, d = vehicle(supervisor), driver(supervisor)
    assert assign(other_supervisor, their_ride["id"], v, d, at(day, 12)).status_code == 200
    response = assign(supervisor, my_ride["id"], v, d, at(day, 12, 5))
    assert response.status_code == 409
    assert response.get_json()["code"] == "double_booked"
    assert "conflicting_ride_id" not in response.get_json()


def test_assignments_the_fleet_cannot_serve_are_422_and_write_nothing(
    app: Flask, login_as: Any
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(1)
    wheelchair_ride = book(counselor, eligible(counselor), at(day, 10), wheelchair=True)
    no_space = vehicle(supervisor, wheelchair_spaces=0)
    parked = vehicle(supervisor)
    supervisor.patch(
        f"/api/v1/mobility/vehicles/{parked}", json={"active": False}, headers={"If-Match": '"v1"'}
    )
    d = driver(supervisor)
    ok_vehicle = vehicle(supervisor)
    for vehicle_id, driver_id, pickup_at, field in (
        (no_space, d, at(day, 10), "vehicle_id"),  # a wheelchair ride needs a space
        (parked, d, at(day, 10), "vehicle_id"),  # inactive
        ("00000000-0000-4000-8000-000000000001", d, at(day, 10), "vehicle_id"),
        (ok_vehicle, "00000000-0000-4000-8000-000000000002", at(day, 10), "driver_id"),
        (ok_vehicle, d, at(day, 11), "pickup_at"),  # outside the window
    ):
        response = assign(supervisor, wheelchair_ride["id"], vehicle_id, driver_id, pickup_at)
        assert response.status_code == 422, (field, response.get_json())
        assert field in response.get_json()["errors"]
    assert ride_state(app, wheelchair_ride["id"]) == ("requested", None, None)


def test_a_ride_outside_the_service_hours_cannot_be_assigned(login_as: Any) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(1)
    late = book(counselor, eligible(counselor), at(day, 22, 50))
    response = assign(
        supervisor, late["id"], vehicle(supervisor), driver(supervisor), at(day, 22, 50)
    )
    assert response.status_code == 422
    assert "pickup_at" in response.get_json()["errors"]


@pytest.mark.postgres_only
def test_the_database_itself_refuses_an_overlapping_interval_on_postgresql(
    login_as: Any, connection: Connection
) -> None:
    """Written around the use case, straight in SQL: the exclusion constraint still refuses."""
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    day = seoul_day(1)
    first = book(counselor, eligible(counselor), at(day, 10))
    second = book(counselor, eligible(counselor), at(day, 10, 15))
    v, d, other_driver = vehicle(supervisor), driver(supervisor), driver(supervisor)
    held = assign(supervisor, first["id"], v, d, at(day, 10)).get_json()
    names = connection.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE contype = 'x' "
            "AND conrelid = 'mobility_rides'::regclass ORDER BY conname"
        )
    ).scalars()
    assert list(names) == ["ex_mobility_rides_driver_busy", "ex_mobility_rides_vehicle_busy"]
    definition = connection.execute(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'ex_mobility_rides_vehicle_busy'"
        )
    ).scalar_one()
    assert definition.startswith(
        "EXCLUDE USING gist (vehicle_id WITH =, tstzrange(pickup_at, busy_until) WITH &&)"
    )
    assert "'assigned'" in definition and "'cancelled'" not in definition
    for vehicle_id, driver_id in ((v, other_driver), (None, d)):
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(
                text(
                    "UPDATE mobility_rides SET state = 'assigned', vehicle_id = :v, "
                    "driver_id = :d, pickup_at = :start, busy_until = :end WHERE id = :id"
                ),
                {
                    "v": vehicle_id,
                    "d": driver_id,
                    "start": at(day, 10, 15),
                    "end": datetime.fromisoformat(held["busy_until"]) + timedelta(minutes=5),
                    "id": uuid.UUID(second["id"]),
                },
            )


def test_a_residents_erasure_cancels_their_rides_and_shreds_the_addresses(
    app: Flask, login_as: Any
) -> None:
    counselor, supervisor = login_as("counselor"), login_as("supervisor")
    resident_id = eligible(counselor)
    ride = book(counselor, resident_id, at(seoul_day(1), 10))
    v, d = vehicle(supervisor), driver(supervisor)
    assert assign(supervisor, ride["id"], v, d, at(seoul_day(1), 10)).status_code == 200
    erased = supervisor.post(f"/api/v1/residents/{resident_id}/erasure", json={"reason": "요청"})
    assert erased.status_code in (200, 204), erased.get_json()
    read = supervisor.get(f"{RIDES}/{ride['id']}").get_json()
    assert read["state"] == "cancelled"
    assert (read["pickup_address"], read["dropoff_address"]) == (None, None)
    # The vehicle is free again at that time.
    other = book(counselor, eligible(counselor), at(seoul_day(1), 10))
    assert assign(supervisor, other["id"], v, d, at(seoul_day(1), 10)).status_code == 200


def test_a_resident_who_moves_takes_their_rides_to_the_new_dongs_team(login_as: Any) -> None:
    counselor = login_as("counselor", (GASAN, DOKSAN1))
    resident_id = eligible(counselor)
    ride = book(counselor, resident_id, at(seoul_day(1), 10))
    current = counselor.get(f"/api/v1/residents/{resident_id}")
    moved = counselor.patch(
        f"/api/v1/residents/{resident_id}",
        json={"dong": DOKSAN1},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.get_json()
    assert login_as("counselor", (DOKSAN1,)).get(f"{RIDES}/{ride['id']}").status_code == 200
    assert login_as("counselor", (GASAN,)).get(f"{RIDES}/{ride['id']}").status_code == 404
