"""Property tests: whatever a client sends to the busiest write endpoints, the answer is a 4xx
problem (with field errors on 422) or a success, never a 5xx, and a refused request writes
nothing (docs/security-model.md, "Strict input").

Bodies are serialized here with `json.dumps` (ASCII escapes), so lone surrogates and NUL
characters reach the server exactly as a hostile client would send them.
"""

from __future__ import annotations

import itertools
import json
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.support.clock import Clock
from tests.support.staff import DOKSAN1, GASAN, PASSWORD
from welfare.identity import IdentityError, normalize_phone, parse_rrn
from welfare.models import (
    Contact,
    DataKey,
    HouseholdType,
    OngiEnrollment,
    Resident,
    StaffSession,
)
from welfare.web import get_database

PROBLEM = "application/problem+json"
# Fixed when the module loads: strategies built during a test must not drift with the clock.
NOW = datetime.now(UTC).replace(microsecond=0)
DONGS = (GASAN, DOKSAN1)
CHANNELS = ["phone", "visit", "message", "ai_call", "sensor", "delivery", "ride"]
OUTCOMES = ["reached", "no_answer", "not_home", "refused", "unwell"]

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    # One app (one rolled-back connection) per test on purpose: examples share the seeded rows.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

# -- strategies -------------------------------------------------------------------------------

nasty_strings = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\ud800",
            "\udfff",
            "\u202e\u200b\ufeff",
            "９００１０１-１２３４５６１",
            "١١٥٤٥٥١٠٠٠",
            "1154551000\n",
            "null",
            "NaN",
            "😀" * 60,
            "Robert'); DROP TABLE residents;--",
            "<script>alert(1)</script>",
            "2026-11-24T01:00:00",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "00000000-0000-0000-0000-000000000000",
        ]
    ),
    # Huge strings, built from a short description so a failure report stays readable.
    st.sampled_from([("가", 5_000), ("x", 20_000), ("0", 400)]).map(lambda p: p[0] * p[1]),
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | nasty_strings
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def instants(when: str = "mostly recent") -> st.SearchStrategy[str]:
    """ISO-8601 times with an offset: "recent" (the last month, acceptable), "future" (well
    after now), "anywhere" (year 1 to 9999), or "mostly recent"."""
    if when == "mostly recent":
        return st.one_of(instants("recent"), instants("recent"), instants("anywhere"))
    now = NOW
    low, high = {
        "recent": (now - timedelta(days=30), now - timedelta(minutes=1)),
        "future": (now + timedelta(minutes=10), datetime(9999, 12, 30, tzinfo=UTC)),
        "anywhere": (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)),
    }[when]
    offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    moments = st.datetimes(min_value=low.replace(tzinfo=None), max_value=high.replace(tzinfo=None))
    return st.builds(
        lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone).isoformat(),
        moments,
        offsets,
    )


def bodies(
    fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
) -> st.SearchStrategy[Any]:
    """JSON bodies for an endpoint with these fields. Half are well shaped (the required
    fields, some optional ones, each value of the right type though often invalid: a bad RRN,
    an unknown dong, a future time), so they get past the schema to the use case; the rest
    take any subset of the fields with junk or nasty values, extra keys, or are no object."""
    well_shaped = st.fixed_dictionaries(
        {name: fields[name] for name in required},
        optional={name: strategy for name, strategy in fields.items() if name not in required},
    )
    known = st.fixed_dictionaries(
        {}, optional={name: strategy | json_values for name, strategy in fields.items()}
    )
    extra = st.dictionaries(st.text(max_size=12) | nasty_strings, json_values, max_size=2)
    junk = st.builds(lambda a, b: {**b, **a}, known, extra)
    return st.one_of(well_shaped, well_shaped, well_shaped, junk, junk, json_values)


def valid_rrns() -> st.SearchStrategy[str]:
    """Well-formed RRNs (a real date, a legacy check digit) born 1930-1999, hyphen or not."""

    def build(*, year: int, month: int, day: int, sex: int, serial: int, dash: bool) -> str:
        front = f"{year % 100:02d}{month:02d}{day:02d}"
        digits = f"{front}{sex}{serial:05d}"
        weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
        check = (11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11) % 10
        return f"{front}-{digits[6:]}{check}" if dash else f"{digits}{check}"

    return st.builds(
        build,
        year=st.integers(1930, 1999),
        month=st.integers(1, 12),
        day=st.integers(1, 28),
        sex=st.sampled_from([1, 2]),
        serial=st.integers(0, 99_999),
        dash=st.booleans(),
    )


def invalid_rrns() -> st.SearchStrategy[str]:
    def invalid(value: str) -> bool:
        try:
            parse_rrn(value, today=NOW.date())
        except IdentityError:
            return True
        return False

    return (
        st.text(max_size=20) | st.text(string.digits + "-", max_size=16) | nasty_strings
    ).filter(invalid)


def invalid_phones() -> st.SearchStrategy[str]:
    def invalid(value: str) -> bool:
        try:
            normalize_phone(value)
        except IdentityError:
            return True
        return False

    return (st.text(min_size=1, max_size=20) | st.text(string.digits + "-+ ", min_size=1)).filter(
        invalid
    )


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good three times in four, so whole bodies are often valid and reach the use case."""
    return st.one_of(good, good, good, bad)


def not_in(choices: list[str]) -> st.SearchStrategy[str]:
    return (st.text(max_size=15) | nasty_strings).filter(lambda v: v not in choices)


wrong_types = st.one_of(
    st.integers(), st.booleans(), st.floats(), st.lists(st.integers(), max_size=2), st.just({})
)

# -- helpers ----------------------------------------------------------------------------------


def send(client: FlaskClient, method: str, url: str, body: Any, **kwargs: Any) -> Any:
    """Send `body` as JSON text with ASCII escapes (the way a hostile client can)."""
    return client.open(
        url, method=method, data=json.dumps(body), content_type="application/json", **kwargs
    )


def assert_client_error_or_success(response: Any) -> None:
    status = response.status_code
    assert status < 500, (status, response.get_data(as_text=True)[:500])
    if status >= 400:
        assert response.mimetype == PROBLEM, (status, response.mimetype)
        body = response.get_json()
        assert body["status"] == status
        assert body["code"]
        if status == 422:
            assert body.get("errors"), body


def counts(app: Flask) -> dict[str, int]:
    with get_database(app).new_session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Resident, DataKey, Contact, OngiEnrollment, StaffSession)
        }


def grew(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


RESIDENT = {"name": "김영희", "rrn": "900101-1234568", "dong": GASAN, "phone": "010-2345-6789"}


@pytest.fixture(autouse=True)
def clock(app: Flask) -> Clock:
    """The app's clock stands at NOW, the instant the strategies' "recent" and "future" are
    measured from: a slow run (or a leg that starts long after collection) must not turn a
    "future" time into a past one."""
    return Clock(NOW).install(app)


@pytest.fixture
def counselor(login_as: Callable[..., FlaskClient]) -> FlaskClient:
    """A counselor of two dongs, logged in with a cookie session (so CSRF is in play too)."""
    return login_as("counselor", dongs=DONGS)


@pytest.fixture
def resident_id(counselor: FlaskClient) -> str:
    response = counselor.post("/api/v1/residents", json=RESIDENT)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


# -- POST /api/v1/residents -------------------------------------------------------------------

RESIDENT_FIELDS = {
    "name": mostly(st.sampled_from(["김영희", "이 순자", "Kim Younghee"]), st.text(max_size=60)),
    "rrn": mostly(valid_rrns(), invalid_rrns()),
    "dong": mostly(st.sampled_from(DONGS), st.sampled_from(["1111111111", "115455100"])),
    "phone": mostly(st.none() | st.just("010-2345-6789"), invalid_phones()),
    "address": st.none() | st.text(max_size=300),
    "household_type": mostly(st.none() | st.just("single"), st.sampled_from(["solo", ""])),
    "notes": st.none() | st.text(max_size=50),
}


@SETTINGS
@given(body=bodies(RESIDENT_FIELDS, required=("name", "rrn", "dong")))
def test_registering_any_body_is_a_4xx_or_one_resident(
    app: Flask, counselor: FlaskClient, body: Any
) -> None:
    before = counts(app)
    response = send(counselor, "POST", "/api/v1/residents", body)
    assert_client_error_or_success(response)
    if response.status_code == 201:
        assert grew(before, counts(app)) == {"residents": 1, "data_keys": 1}
    else:
        assert counts(app) == before


@SETTINGS
@given(
    field=st.sampled_from(["name", "rrn", "dong", "phone", "household_type"]),
    data=st.data(),
)
def test_one_bad_field_in_a_good_resident_is_named(
    app: Flask, counselor: FlaskClient, field: str, data: st.DataObject
) -> None:
    bad = {
        "name": st.just("") | st.just("\x00") | wrong_types | st.just(None),
        "rrn": invalid_rrns() | wrong_types | st.just(None),
        "dong": st.sampled_from(["1111111111", "1154551000\n", "abc", "١١٥٤٥٥١٠٠٠"]) | wrong_types,
        "phone": invalid_phones() | wrong_types,
        "household_type": not_in([h.value for h in HouseholdType]) | wrong_types,
    }[field]
    value = data.draw(bad, label=field)
    before = counts(app)
    response = send(counselor, "POST", "/api/v1/residents", {**RESIDENT, field: value})
    assert_client_error_or_success(response)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert counts(app) == before


# -- PATCH /api/v1/residents/{id} -------------------------------------------------------------

PATCH_FIELDS = {
    "name": st.text(max_size=60),
    "dong": st.sampled_from([*DONGS, "1111111111", "1154551000\n"]),
    "phone": st.none() | st.just("+82 10 9999 8888") | invalid_phones(),
    "address": st.none() | st.text(max_size=300),
    "household_type": st.none() | st.text(max_size=12),
    "notes": st.none() | st.text(max_size=50),
    "rrn": valid_rrns(),
    "status": st.just("erased"),
    "version": st.integers(),
}


@SETTINGS
@given(body=bodies(PATCH_FIELDS), stale=st.booleans())
def test_patching_any_body_is_a_4xx_or_a_whole_update(
    app: Flask, counselor: FlaskClient, resident_id: str, body: Any, stale: bool
) -> None:
    url = f"/api/v1/residents/{resident_id}"
    current = counselor.get(url)
    etag = '"v0"' if stale else current.headers["ETag"]
    response = send(counselor, "PATCH", url, body, headers={"If-Match": etag})
    assert_client_error_or_success(response)
    after = counselor.get(url)
    if response.status_code == 200:
        # The read adds what the programs are doing for the resident; the record is the same.
        assert {k: v for k, v in after.get_json().items() if k != "programs"} == (
            response.get_json()
        )
    else:
        assert after.get_json() == current.get_json()
        assert after.headers["ETag"] == current.headers["ETag"]


# -- POST /api/v1/residents/search ------------------------------------------------------------


@SETTINGS
@given(
    body=bodies(
        {
            "rrn": valid_rrns() | invalid_rrns(),
            "phone": invalid_phones() | st.just("010-2345-6789"),
            "name": st.text(max_size=60),
        }
    )
    | st.sampled_from([{"rrn": "900101-1234568"}, {"phone": "010-2345-6789"}, {"name": "김영희"}])
)
def test_searching_with_any_body_is_a_4xx_or_a_list(
    app: Flask, counselor: FlaskClient, resident_id: str, body: Any
) -> None:
    before = counts(app)
    response = send(counselor, "POST", "/api/v1/residents/search", body)
    assert_client_error_or_success(response)
    if response.status_code == 200:
        assert isinstance(response.get_json()["items"], list)
    assert counts(app) == before


# -- POST /api/v1/ongi/enrollments ------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_enrolling_with_any_body_is_a_4xx_or_one_enrollment(
    app: Flask, counselor: FlaskClient, resident_id: str, data: st.DataObject
) -> None:
    body = data.draw(
        bodies(
            {
                "resident_id": mostly(
                    st.sampled_from([resident_id, resident_id.upper()]),
                    st.just("not-a-uuid") | st.uuids().map(str),
                ),
                "risk_level": mostly(
                    st.sampled_from(["high", "medium", "low"]), not_in(["high", "medium", "low"])
                ),
                "enrolled_at": instants(),
            },
            required=("resident_id", "risk_level"),
        ),
        label="body",
    )
    before = counts(app)
    response = send(counselor, "POST", "/api/v1/ongi/enrollments", body)
    assert_client_error_or_success(response)
    if response.status_code == 201:
        assert grew(before, counts(app)) == {"ongi_enrollments": 1}
    else:
        assert counts(app) == before


@SETTINGS
@given(enrolled_at=instants("future"))
def test_an_enrollment_in_the_future_is_refused(
    app: Flask, counselor: FlaskClient, resident_id: str, enrolled_at: str
) -> None:
    before = counts(app)
    body = {"resident_id": resident_id, "risk_level": "high", "enrolled_at": enrolled_at}
    response = send(counselor, "POST", "/api/v1/ongi/enrollments", body)
    assert_client_error_or_success(response)
    assert response.status_code == 422
    assert "enrolled_at" in response.get_json()["errors"]
    assert counts(app) == before


# -- POST /api/v1/contacts --------------------------------------------------------------------

_refs = itertools.count()


@SETTINGS
@given(data=st.data())
def test_logging_any_contact_body_is_a_4xx_or_one_contact(
    app: Flask, counselor: FlaskClient, resident_id: str, data: st.DataObject
) -> None:
    body = data.draw(
        bodies(
            {
                "resident_id": mostly(st.just(resident_id), st.just("x") | st.uuids().map(str)),
                "channel": mostly(st.sampled_from(CHANNELS), not_in(CHANNELS)),
                "outcome": mostly(st.sampled_from(OUTCOMES), not_in(OUTCOMES)),
                "occurred_at": instants(),
                "program": mostly(st.sampled_from(["ongi", "kimchi"]), st.sampled_from(["", "x"])),
                "note": st.none() | st.text(max_size=100),
                "client_ref": st.none()
                | st.builds(lambda: f"ref-{next(_refs):08d}")
                | st.text(max_size=120),
            },
            required=("resident_id", "channel", "outcome", "occurred_at"),
        ),
        label="body",
    )
    before = counts(app)
    response = send(counselor, "POST", "/api/v1/contacts", body)
    assert_client_error_or_success(response)
    if response.status_code == 201:
        assert grew(before, counts(app)) == {"contacts": 1}
    else:
        assert counts(app) == before


@SETTINGS
@given(
    fields=st.fixed_dictionaries(
        {
            "occurred_at": instants("future"),
            "channel": st.sampled_from(CHANNELS),
            "outcome": st.sampled_from(OUTCOMES),
            "client_ref": st.none() | st.builds(lambda: f"future-{next(_refs):08d}"),
        }
    )
)
def test_a_contact_in_the_future_is_refused(
    app: Flask, counselor: FlaskClient, resident_id: str, fields: dict[str, Any]
) -> None:
    before = counts(app)
    body = {"resident_id": resident_id, **fields}
    response = send(counselor, "POST", "/api/v1/contacts", body)
    assert response.status_code == 422, response.get_json()
    assert "occurred_at" in response.get_json()["errors"]
    assert counts(app) == before


@SETTINGS
@given(
    field=st.sampled_from(["channel", "outcome", "occurred_at", "resident_id", "program"]),
    data=st.data(),
)
def test_one_bad_field_in_a_good_contact_is_named(
    app: Flask, counselor: FlaskClient, resident_id: str, field: str, data: st.DataObject
) -> None:
    bad = {
        "channel": not_in(CHANNELS) | wrong_types,
        "outcome": not_in(OUTCOMES) | wrong_types,
        "occurred_at": st.sampled_from(
            ["2026-11-24T01:00:00", "yesterday", "2026-13-01T00:00:00Z", ""]
        )
        | wrong_types,
        "resident_id": st.sampled_from(["x", resident_id + "0", ""]) | wrong_types,
        "program": not_in(["ongi", "care_center", "kimchi", "mobility"]) | wrong_types,
    }[field]
    good = {
        "resident_id": resident_id,
        "channel": "phone",
        "outcome": "reached",
        "occurred_at": (NOW - timedelta(hours=1)).isoformat(),
    }
    before = counts(app)
    response = send(counselor, "POST", "/api/v1/contacts", {**good, field: data.draw(bad)})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert counts(app) == before


# -- POST /api/v1/auth/login ------------------------------------------------------------------

_addresses: Iterator[int] = itertools.count(1)


@SETTINGS
@given(
    body=bodies(
        {
            "username": st.sampled_from(["{me}", " {ME} ", "nobody"]) | st.text(max_size=70),
            "password": st.just(PASSWORD) | st.text(max_size=200),
            "otp": st.none() | st.text(max_size=8),
        },
        required=("username", "password"),
    )
)
def test_logging_in_with_any_body_is_a_4xx_or_a_session(
    app: Flask, counselor: FlaskClient, body: Any
) -> None:
    # A fresh client address for each example, so the per-address limit is not what answers.
    n = next(_addresses)
    client = app.test_client()
    if isinstance(body, dict) and isinstance(body.get("username"), str):
        me = counselor.staff.username  # type: ignore[attr-defined]  # set by login_as (conftest)
        body["username"] = body["username"].replace("{me}", me).replace("{ME}", me.upper())
    before = counts(app)
    response = send(
        client,
        "POST",
        "/api/v1/auth/login",
        body,
        environ_base={"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"},
    )
    assert_client_error_or_success(response)
    if response.status_code == 200:
        assert grew(before, counts(app)) == {"staff_sessions": 1}
    else:
        assert response.status_code in (400, 401, 422)
        assert counts(app) == before


# -- raw bodies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Repeated:
    """A long body, kept short in Hypothesis' report of a failing example."""

    chunk: bytes
    times: int

    def expand(self) -> bytes:
        return self.chunk * self.times


RAW_ENDPOINTS = [
    ("POST", "/api/v1/residents"),
    ("POST", "/api/v1/contacts"),
    ("POST", "/api/v1/residents/search"),
    ("POST", "/api/v1/ongi/enrollments"),
    ("POST", "/api/v1/auth/login"),
]


@SETTINGS
@given(
    endpoint=st.sampled_from(RAW_ENDPOINTS),
    raw=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.sampled_from(
            [
                b"",
                b"{",
                b'{"name": ',
                Repeated(b"[", 100_000),
                Repeated(b'{"a":', 50_000),
                Repeated(b"1", 5_000),
                b"\xff\xfe{}",
                b'{"name": "\xed\xa0\x80"}',
                b"NaN",
                b'{"rrn": 1e999}',
                b"\x00",
            ]
        ),
    ),
)
def test_any_raw_body_is_a_4xx_never_a_500(
    app: Flask, counselor: FlaskClient, endpoint: tuple[str, str], raw: bytes | Repeated
) -> None:
    method, url = endpoint
    before = counts(app)
    data = raw.expand() if isinstance(raw, Repeated) else raw
    response = counselor.open(url, method=method, data=data, content_type="application/json")
    assert_client_error_or_success(response)
    assert response.status_code >= 400
    assert counts(app) == before


def test_a_body_over_the_limit_is_a_413(app: Flask, counselor: FlaskClient) -> None:
    huge = json.dumps({**RESIDENT, "notes": "가" * 2_000_000})
    before = counts(app)
    response = counselor.post("/api/v1/residents", data=huge, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert counts(app) == before


@SETTINGS
@given(token=st.text(max_size=80) | nasty_strings.filter(lambda s: "\x00" not in s))
def test_any_wrong_csrf_header_on_a_cookie_session_is_a_403(
    app: Flask, counselor: FlaskClient, token: str
) -> None:
    assume("\n" not in token and "\r" not in token)
    # A server hands the app header bytes decoded as Latin-1; do the same with the UTF-8 bytes.
    header = token.encode("utf-8", "surrogatepass").decode("latin-1")
    before = counts(app)
    response = counselor.post("/api/v1/residents", json=RESIDENT, headers={"X-CSRF-Token": header})
    assert_client_error_or_success(response)
    assert response.status_code == 403
    assert counts(app) == before
