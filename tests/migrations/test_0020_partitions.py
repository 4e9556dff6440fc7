"""0020: access records and contacts partitioned by month on PostgreSQL, every row kept and the
chain still verifying; a no-op for the record tables on SQLite; and back again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from services import residents
from services.audit import record_access, start_chains, verify_chain
from services.audit.link import link_pending
from tests.support.audit import staff_actor
from tests.support.casework import unique_rrn
from tests.support.databases import fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import KEYRING_INFO, database_now, make_engine
from welfare.migrate import downgrade, upgrade
from welfare.models import AuditChain, AuditEvent, Contact

MONTHS = [datetime(2024, 3, 9, tzinfo=UTC), datetime(2025, 1, 31, 23, 59, tzinfo=UTC)]


@pytest.fixture
def engine_at_0019(tmp_path: Path) -> Iterator[Engine]:
    with fresh_database(tmp_path, "p0020") as url:
        engine = make_engine(url)
        upgrade(engine, "0019")
        yield engine
        engine.dispose()


def fill(engine: Engine, keyring: Keyring) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Access records and contacts in old months and now, linked, committed."""
    with Session(bind=engine, info={KEYRING_INFO: keyring}) as s:
        start_chains(s)
        now = database_now(s)
        actor = staff_actor()
        resident = residents.register_resident(
            s, actor=actor, name="이관", rrn=unique_rrn(), dong="1154551000", now=now
        )
        for at in [*MONTHS, now]:
            record_access(s, actor=actor, action="read", resident_ids=[resident.id], at=at)
            s.add(
                Contact(
                    id=uuid.uuid4(),
                    resident_id=resident.id,
                    dong_code="1154551000",
                    program="ongi",
                    channel="phone",
                    outcome="reached",
                    occurred_at=at,
                    recorded_at=now,
                    source="staff",
                    client_ref=f"ref-{at:%Y%m%d%H%M}",
                    staff_id=actor.staff_id,
                )
            )
        s.flush()
        link_pending(s, AuditChain.ACCESS)
        s.commit()
        return set(s.scalars(select(AuditEvent.id))), set(s.scalars(select(Contact.id)))


def test_0020_keeps_every_row_and_the_chain_and_back(
    engine_at_0019: Engine, keyring: Keyring
) -> None:
    events, contacts = fill(engine_at_0019, keyring)
    upgrade(engine_at_0019, "0020")
    postgresql = engine_at_0019.dialect.name == "postgresql"
    with Session(bind=engine_at_0019, info={KEYRING_INFO: keyring}) as s:
        assert set(s.scalars(select(AuditEvent.id))) == events
        assert set(s.scalars(select(Contact.id))) == contacts
        links = {r.id: r.hash for r in s.execute(select(AuditEvent.id, AuditEvent.hash))}
        result = verify_chain(s, AuditChain.ACCESS)
        assert (result.ok, result.checked) == (True, len(events)), result.problem
        if postgresql:
            homes = set(
                s.scalars(text("SELECT DISTINCT tableoid::regclass::text FROM audit_events"))
            )
            assert {"audit_events_p202403", "audit_events_p202501"} <= homes
            assert "audit_events_default" not in homes
            kind = s.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'contacts'"))
            assert kind == "p"
            this_month = datetime.now(UTC).replace(day=1)
            for ahead in range(4):
                month = (this_month + timedelta(days=32 * ahead)).replace(day=1)
                assert s.scalar(text(f"SELECT to_regclass('contacts_p{month:%Y%m}')"))
    downgrade(engine_at_0019, "0019")
    with Session(bind=engine_at_0019, info={KEYRING_INFO: keyring}) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == len(events)
        assert set(s.scalars(select(Contact.id))) == contacts
        # (0019's code verifies the chain; this one reads re-anchor records 0019 lacks.)
        assert {r.id: r.hash for r in s.execute(select(AuditEvent.id, AuditEvent.hash))} == links
        if postgresql:
            kind = s.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'audit_events'"))
            assert kind == "r"
