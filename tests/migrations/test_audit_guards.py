"""The database itself refuses to rewrite access records or rewind a chain head."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from schedulers.audit_retention import ACCESS_RECORD_RETENTION, ACCESS_RIGHT_CHANGE_RETENTION
from services.audit import link_chains, record_access, record_right_change
from tests.support.audit import staff_actor
from welfare.database import database_now
from welfare.models import Role

TABLES = ("audit_events", "access_right_changes")


def fill(session: Session, *, age: timedelta = timedelta(0), link: bool = True) -> None:
    """One record in each chain, linked (as the audit_link job does) unless told not to."""
    at = database_now(session) - age
    record_access(session, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()], at=at)
    record_right_change(
        session,
        actor=staff_actor(Role.ADMIN),
        target_staff_id=uuid.uuid4(),
        change="created",
        before={},
        after={"role": "counselor"},
        at=at,
    )
    if link:
        link_chains(session)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@pytest.mark.parametrize("table", TABLES)
def test_a_plain_update_of_a_record_is_rejected_by_the_database(
    session: Session, table: str
) -> None:
    fill(session)
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(f"UPDATE {table} SET ip = '1.2.3.4' WHERE seq = 1"))


LINK = "seq = 1, prev_hash = '" + "a" * 64 + "', hash = '" + "b" * 64 + "'"


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize(
    "assignment",
    [
        "ip = '1.2.3.4'",  # any other field of an unlinked record
        "seal = NULL",  # its seal
        f"{LINK}, ip = '1.2.3.4'",  # a field changed together with the linking
        "seq = 1",  # a half linking
        "seq = 1, prev_hash = '" + "a" * 64 + "', hash = NULL",
    ],
)
def test_an_unlinked_record_takes_only_its_chain_position(
    session: Session, table: str, assignment: str
) -> None:
    fill(session, link=False)
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(f"UPDATE {table} SET {assignment} WHERE seq IS NULL"))


@pytest.mark.parametrize("table", TABLES)
def test_the_linking_sets_the_chain_position_once_and_never_again(
    session: Session, table: str
) -> None:
    fill(session, link=False)
    linked = session.execute(text(f"UPDATE {table} SET {LINK} WHERE seq IS NULL"))
    assert linked.rowcount == 1  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
    for assignment in (
        "seq = 2",
        "seq = NULL, prev_hash = NULL, hash = NULL",  # unlinked again, to be linked elsewhere
        "hash = '" + "c" * 64 + "'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(f"UPDATE {table} SET {assignment} WHERE seq = 1"))


@pytest.mark.parametrize("table", TABLES)
def test_a_plain_delete_of_a_recent_record_is_rejected_even_by_the_retention_setting(
    session: Session, table: str
) -> None:
    fill(session)
    if is_postgresql(session):
        session.execute(text("SET LOCAL welfare.audit_retention = 'on'"))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(f"DELETE FROM {table} WHERE seq = 1"))


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", TABLES)
def test_an_old_record_is_deleted_only_under_the_retention_setting(
    session: Session, table: str
) -> None:
    fill(session, age=timedelta(days=1200))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(f"DELETE FROM {table} WHERE seq = 1"))
    session.execute(text("SET LOCAL welfare.audit_retention = 'on'"))
    deleted = session.execute(text(f"DELETE FROM {table} WHERE seq = 1"))
    assert deleted.rowcount == 1  # type: ignore[attr-defined]  # a DELETE gives a CursorResult


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", [*TABLES, "audit_chain_heads"])
def test_truncate_is_rejected(session: Session, table: str) -> None:
    with pytest.raises(DBAPIError, match="TRUNCATE"), session.begin_nested():
        session.execute(text(f"TRUNCATE {table}"))


def test_a_chain_head_cannot_be_deleted_or_rewound(session: Session) -> None:
    fill(session)
    with pytest.raises(DBAPIError, match="only moves forward"), session.begin_nested():
        session.execute(text("DELETE FROM audit_chain_heads WHERE chain = 'access'"))
    with pytest.raises(DBAPIError, match="only moves forward"), session.begin_nested():
        session.execute(text("UPDATE audit_chain_heads SET last_seq = 0 WHERE chain = 'access'"))
    with pytest.raises(DBAPIError, match="only moves forward"), session.begin_nested():
        session.execute(
            text("UPDATE audit_chain_heads SET anchor_seq = 0 WHERE chain = 'access_rights'")
        )


@pytest.mark.parametrize(
    "assignment",
    [
        "mac = NULL",
        "started_at = NULL",
        "genesis_hash = NULL",
        "genesis_hash = '" + "a" * 64 + "'",
        "started_at = '2020-01-01 00:00:00'",
    ],
)
def test_a_chain_head_cannot_lose_its_mac_or_genesis(session: Session, assignment: str) -> None:
    """Resetting a started head to its freshly migrated state (seq 0, no MAC) takes more than
    the application's own database rights."""
    with pytest.raises(DBAPIError, match="only moves forward"), session.begin_nested():
        session.execute(text(f"UPDATE audit_chain_heads SET {assignment} WHERE chain = 'access'"))


def test_the_triggers_allow_no_earlier_deletion_than_the_retention_job(session: Session) -> None:
    expected = {
        "audit_events": ACCESS_RECORD_RETENTION.days,
        "access_right_changes": ACCESS_RIGHT_CHANGE_RETENTION.days,
    }
    for table, days in expected.items():
        if is_postgresql(session):
            args = session.execute(
                text(
                    "SELECT encode(tgargs, 'escape') FROM pg_trigger "
                    "WHERE tgname = :name AND NOT tgisinternal "
                    "AND tgrelid = CAST(:table AS regclass)"
                ),
                {"name": f"{table}_append_only", "table": table},
            ).scalar_one()
            assert args == f"{days}\\000"
        else:
            sql = session.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
                {"name": f"{table}_retention_only"},
            ).scalar_one()
            assert f"'-{days} days'" in sql
