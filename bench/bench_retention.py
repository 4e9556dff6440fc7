"""Access-record retention on PostgreSQL: deleting the expired prefix row by row (`prune_chain`,
what SQLite still does) beside dropping whole monthly partitions (`drop_expired_partitions`,
what the job does on PostgreSQL since migration 0020), on the same chain in two fresh databases.

Each database gets the same `--records` linked access records: 90 % spread over three months
wholly past the 730-day retention, 10 % from the last week. Both runs verify the expired
segment first (the same HMAC walk, timed alone as the reference), so the run times mostly show
the walk; the difference is in what the removal leaves: the table's size on disk right after
(a DELETE leaves dead tuples until vacuum) and the VACUUM that follows.

    .venv/bin/python bench/bench_retention.py                  # 100,000 records
    .venv/bin/python bench/bench_retention.py --records 20000
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from benchkit import (
    backend_arguments,
    backends,
    bulk_insert,
    database_line,
    machine_line,
    migrated_database,
    size_argument,
    stopwatch,
    throwaway_database,
)
from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from schedulers.audit_retention import ACCESS_RECORD_RETENTION
from services import partitions
from services.audit import prune_chain, start_chains
from services.audit.chain import ChainHead, move_head, read_head
from services.audit.marks import VERIFY_AHEAD_LINKS, verify_ahead
from services.audit.retention import drop_expired_partitions
from services.audit.verify import walk_chain
from welfare.crypto.chain import canonical_json, link_hash, seal_mac
from welfare.database import Database, database_now, session_keyring
from welfare.models import AuditChain, AuditEvent

COLUMNS = (*AuditEvent.hashed_columns(), "prev_hash", "hash")


def fill(database: Database, count: int) -> datetime:
    """`count` linked records, the head moved over them; returns the database clock."""
    with database.transaction() as session:
        start_chains(session)
    with database.transaction() as session:
        key = session_keyring(session).audit_key
        now = database_now(session)
        head = _head(session)
        expired = partitions.month_start(now - ACCESS_RECORD_RETENTION)
        first = partitions.month_start(expired - timedelta(days=85))
        span = (expired - first).total_seconds()
        old = count * 9 // 10
        rows: list[list[Any]] = []
        seq, prev = head.last_seq, head.last_hash
        for n in range(count):
            if n < old:
                at = first + timedelta(seconds=span * n / old)
            else:
                at = now - timedelta(days=7) + timedelta(seconds=n)
            values: dict[str, Any] = {
                "id": uuid.uuid4(),
                "at": at,
                "staff_id": uuid.uuid4(),
                "actor_role": "counselor",
                "action": "read",
                "resident_ids": [str(uuid.uuid4())],
                "outcome": "ok",
                "ip": "10.0.0.1",
                "request_id": f"req-{n}",
                "reason": None,
                "category": "access",
                "token_id": None,
            }
            values["seal"] = seal_mac(key, canonical_json(AuditEvent.seal_fields(values)))
            seq += 1
            values["seq"] = seq
            values["prev_hash"] = prev
            values["hash"] = prev = link_hash(
                key, prev, canonical_json(AuditEvent.link_fields(values, sealed=True))
            )
            rows.append([values[c] for c in COLUMNS])
        move_head(session, head, replace(head, last_seq=seq, last_hash=prev), key, now)
    bulk_insert(database.engine, cast(Table, AuditEvent.__table__), COLUMNS, rows)
    with database.transaction() as session:
        partitions.ensure_partitions(session, now)  # months of the old rows, out of DEFAULT
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE audit_events"))
    return now


def _head(session: Session) -> ChainHead:
    head = read_head(session, AuditChain.ACCESS)
    if head is None:
        raise SystemExit("the access chain has no head")
    return head


def table_size(database: Database) -> int:
    with database.engine.connect() as conn:
        names = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'audit_events'::regclass"
                )
            )
        ]
        return sum(
            conn.execute(text("SELECT pg_total_relation_size(:n)"), {"n": n}).scalar_one()
            for n in names
        )


def run(pg_url: str, count: int, how: str) -> dict[str, Any]:
    with throwaway_database("postgresql", f"retention_{how}", pg_url) as url:
        database = migrated_database(url)
        try:
            now = fill(database, count)
            before = table_size(database)
            cut = now - ACCESS_RECORD_RETENTION
            with database.transaction() as session:
                key = session_keyring(session).audit_key
                head = _head(session)
                with stopwatch() as walking:
                    walk_chain(
                        session,
                        AuditEvent,
                        key,
                        first_seq=head.anchor_seq,
                        first_prev=head.anchor_prev_hash,
                        last_seq=head.anchor_seq + count * 9 // 10 - 1,
                    )
                session.rollback()
            ahead_runs = 0
            with stopwatch() as ahead:
                while how == "drop_marked":
                    with database.transaction() as session:
                        if not verify_ahead(session, AuditChain.ACCESS):
                            break
                    ahead_runs += 1
            with database.transaction() as session, stopwatch() as elapsed:
                if how == "delete":
                    removed = prune_chain(session, chain=AuditChain.ACCESS, older_than=cut)
                else:
                    removed = drop_expired_partitions(
                        session, chain=AuditChain.ACCESS, older_than=cut
                    ).rows
            after = table_size(database)
            with (
                database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
                stopwatch() as vacuuming,
            ):
                conn.execute(text("VACUUM audit_events"))
            return {
                "vacuum": vacuuming(),
                "line": database_line(database.engine),
                "removed": removed,
                "seconds": elapsed(),
                "walk": walking(),
                "ahead": ahead(),
                "ahead_runs": ahead_runs,
                "before": before,
                "after": after,
            }
        finally:
            database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_argument(parser, "records", "BENCH_RETENTION_RECORDS", 100_000, "access records")
    backend_arguments(parser, sqlite=False)
    args = parser.parse_args()
    if not backends(args.backend, args.pg_url):
        return
    print(machine_line())
    results = {
        how: run(args.pg_url, args.records, how) for how in ("delete", "drop", "drop_marked")
    }
    print(results["drop"]["line"])
    print(f"records: {args.records:,}, of which {args.records * 9 // 10:,} past retention")
    for how, label in (
        ("delete", "row DELETE (prune_chain)"),
        ("drop", "partition drop"),
        ("drop_marked", "partition drop, verified ahead by the audit_verify_ahead job"),
    ):
        r = results[how]
        print(
            f"{label}: {int(r['removed']):,} records in {r['seconds']:.2f} s, beside the "
            f"reference of the same database: verifying that segment alone (HMAC walk) "
            f"{r['walk']:.2f} s ({r['seconds'] / r['walk']:.2f}x); table on disk "
            f"{r['before'] / 2**20:,.1f} MiB -> {r['after'] / 2**20:,.1f} MiB; the VACUUM after "
            f"it {r['vacuum']:.2f} s"
            + (
                f"; the job's {r['ahead_runs']} runs before it (each its own transaction, "
                f"at most {VERIFY_AHEAD_LINKS:,} links) took {r['ahead']:.2f} s in all"
                if how == "drop_marked"
                else ""
            )
        )


if __name__ == "__main__":
    main()
