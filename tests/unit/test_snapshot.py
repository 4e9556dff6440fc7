"""A snapshot session reads one consistent state and never holds up the writers."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select

from services.audit import record_access
from tests.support.audit import staff_actor
from tests.support.databases import fresh_database
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.migrate import upgrade
from welfare.models import AuditEvent


def test_a_snapshot_neither_blocks_a_writer_nor_sees_its_later_commit(
    tmp_path: Path, keyring: Keyring
) -> None:
    with fresh_database(tmp_path, "snap") as url:
        reader = Database(url, keyring=keyring)
        # A short busy timeout on SQLite, so a blocked writer fails fast instead of waiting 30 s.
        quick = {"connect_args": {"timeout": 2}} if url.startswith("sqlite") else {}
        writer = Database(url, keyring=keyring, **quick)
        try:
            upgrade(writer.engine)
            with writer.transaction() as s:
                record_access(s, actor=staff_actor(), action="read", resident_ids=[uuid.uuid4()])
            with reader.snapshot() as snapshot:
                count = select(func.count()).select_from(AuditEvent)
                assert snapshot.scalar(count) == 1
                with writer.transaction() as s:  # would wait for SQLite's write lock otherwise
                    record_access(s, actor=staff_actor(), action="read")
                assert snapshot.scalar(count) == 1
            with reader.snapshot() as snapshot:
                assert snapshot.scalar(count) == 2
        finally:
            reader.dispose()
            writer.dispose()
