"""Schemathesis over every operation of the OpenAPI document: no 5xx, every 4xx is a problem,
and every response conforms to the document (status, content type, body schema).

docs/security-model.md, "Strict input". The document is the one served at /api/v1/openapi.json.
Every generated request is sent by each caller the operation's policy allows (a counselor, an
outreach worker and a supervisor scoped to the seeded dong, an admin, a gateway), authenticated
with a bearer token so no CSRF header is involved; public operations are called anonymously.
Path parameters are sometimes swapped for the ids of seeded objects, so requests reach real rows
and not only 404s. Everything a test writes is rolled back with its connection.

Bounded for CI: a fixed number of examples per operation, derandomized (the same requests on
every run), no example database.

The document is loaded when the module is imported, from an app of its own: schemathesis' lazy
`from_fixture` loader needs `request.node._nodeid`, which pytest 9.2 no longer has.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from config import Settings
from config.settings import DEFAULT_API_TOKEN_LIFETIME
from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import ongi, residents, tokens
from tests.support.staff import GASAN, make_staff
from welfare.api.policy import policy_for
from welfare.app import create_app
from welfare.crypto.keyring import Keyring
from welfare.models import Actor, FollowUp, Role
from welfare.web import get_database

PROBLEM = "application/problem+json"
OPENAPI = "/api/v1/openapi.json"
CALLER_ROLES = (Role.COUNSELOR, Role.OUTREACH, Role.SUPERVISOR, Role.ADMIN, Role.GATEWAY)
EXAMPLES_PER_OPERATION = 50

pytestmark = pytest.mark.slow


def _load_schema() -> schemathesis.BaseSchema:
    """The served OpenAPI document, fetched from an app that never touches a database (the
    document is static); requests are then sent to each test's own app."""
    scratch = Path(tempfile.gettempdir())
    app = create_app(
        Settings(
            env="test",
            data_dir=scratch,
            database_url="sqlite://",
            keyring_file=scratch / "unused-keyring.json",
            keyring_file_is_default=False,
            secret_key="schemathesis-document-only-secret-0123456789",
            argon2_profile="fast",
            log_level="INFO",
        ),
        keyring=Keyring.generate(for_development=False),
    )
    try:
        return schemathesis.openapi.from_wsgi(OPENAPI, app)
    finally:
        get_database(app).dispose()


schema = _load_schema()

# Ids of seeded rows by path parameter name, filled by the `seeded` fixture for one test.
_seeded_ids: dict[str, list[str]] = {}


@schema.hook
def flatmap_path_parameters(
    _context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Keep the generated value or take a seeded id, so some requests reach real rows."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: st.sampled_from([value, *_seeded_ids.get(name, ())])
            for name, value in path_parameters.items()
        }
    )


@dataclass(frozen=True)
class Caller:
    role: Role
    headers: dict[str, str]


def _token(app: Flask, staff_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    with get_database(app).new_session() as session:
        token, row = tokens.issue_token(
            session,
            actor=None,
            staff_id=staff_id,
            label="schemathesis",
            now=datetime.now(UTC),
            lifetime=DEFAULT_API_TOKEN_LIFETIME,
        )
    return token, row.id


@pytest.fixture
def callers(app: Flask) -> dict[Role, Caller]:
    found = {}
    for role in CALLER_ROLES:
        member = make_staff(app, str(role), () if role is Role.ADMIN else (GASAN,))
        token, _token_id = _token(app, member.id)
        found[role] = Caller(role, {"Authorization": f"Bearer {token}"})
    return found


@pytest.fixture
def seeded(app: Flask) -> Iterator[dict[str, list[str]]]:
    """A resident of the callers' dong with an enrollment, a contact and a lapsed follow-up; a
    staff member with a token for the admin routes (never a caller, which could lock itself out).
    """
    now = datetime.now(UTC)
    member = make_staff(app, "counselor", (GASAN,))
    _secret, token_id = _token(app, member.id)
    actor = Actor(staff_id=member.id, role=Role.COUNSELOR, dongs=frozenset({GASAN}))
    database = get_database(app)
    with database.new_session() as session:
        resident = residents.register_resident(
            session,
            actor=actor,
            name="시드주민",
            rrn="400101-1234567",
            dong=GASAN,
            phone="010-2345-6789",
            now=now,
        )
        enrollment = ongi.enroll(
            session,
            actor=actor,
            resident_id=resident.id,
            risk_level="high",
            enrolled_at=now - timedelta(days=10),
            now=now,
        )
        contact = ongi.log_contact(
            session,
            actor=actor,
            resident_id=resident.id,
            channel="phone",
            outcome="no_answer",
            occurred_at=now - timedelta(hours=1),
            now=now,
        ).contact
    assert run_job(database, Job("followups", run_followups), as_of=now).status == "succeeded"
    with database.new_session() as session:
        followup_ids = [str(i) for i in session.scalars(select(FollowUp.id))]
    assert followup_ids
    _seeded_ids.update(
        resident_id=[str(resident.id)],
        enrollment_id=[str(enrollment.id)],
        contact_id=[str(contact.id)],
        followup_id=followup_ids,
        staff_id=[str(member.id)],
        token_id=[str(token_id)],
    )
    yield _seeded_ids
    _seeded_ids.clear()


def allowed_callers(app: Flask, case: Case, callers: dict[Role, Caller]) -> list[Caller | None]:
    """The callers the operation's policy admits; None (anonymous) for a public operation."""
    method = case.operation.method.upper()
    path = case.operation.path
    for parameter in case.operation.path_parameters:
        path = path.replace(f"{{{parameter.name}}}", str(uuid.UUID(int=1)))
    endpoint, _args = app.url_map.bind("localhost").match(path, method=method)
    policy = policy_for(app, endpoint, method)
    assert policy is not None, f"{method} {path} has no policy"
    if policy.public:
        return [None]
    return [c for c in callers.values() if policy.allows(c.role)]


def problem_details_for_client_errors(
    _ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """Every 4xx is application/problem+json with its status and a stable code; a 422 also
    names the fields."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == PROBLEM, (
        f"{response.status_code} answered as {content_type!r}"
    )
    body = response.json()
    assert body["status"] == response.status_code, body
    assert body["code"], body
    if response.status_code == 422:
        assert body.get("errors"), f"422 without field errors: {body}"
    return None


@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    # One app (one rolled-back connection) per operation on purpose: the examples of an
    # operation share its seeded rows and whatever earlier examples wrote.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@schema.parametrize()
def test_no_operation_answers_a_server_error(
    case: Case, app: Flask, callers: dict[Role, Caller], seeded: dict[str, list[str]]
) -> None:
    del seeded  # requested for its rows, which the path-parameter hook hands out
    client = app.test_client()
    for caller in allowed_callers(app, case, callers):
        headers = dict(caller.headers) if caller else {}
        if case.method.upper() == "PATCH" or case.formatted_path.endswith("/status"):
            # Updates need the current ETag (not in the document): send it, so bodies the schema
            # accepts reach the use case instead of stopping at 428.
            current = client.get(case.formatted_path.removesuffix("/status"), headers=headers)
            if current.status_code == 200 and "ETag" in current.headers:
                headers["If-Match"] = current.headers["ETag"]
        response = case.call(app=app, headers=headers)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                problem_details_for_client_errors,
                # The document matches reality: every status and content type is documented,
                # and every body (success or problem) validates against its schema.
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )
