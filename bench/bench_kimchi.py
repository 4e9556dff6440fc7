"""Kimchi bulk allocation beside plain inserts of the same rows, in the same run.

Two measured paths, each with its reference:

1. `allocate_by_criteria` over N households (every registered resident of every dong, in
   priority order, one box each until the stock runs out), one transaction: the candidate query
   with its NOT EXISTS on the household, one multi-row INSERT, the stock taken, access records.
   Reference: a plain multi-row INSERT of the same allocation rows into the same table (same
   indexes, another campaign), one transaction.
2. `welfare kimchi import` of an N-line CSV file (an agency's spreadsheet: one RRN a line):
   reading the file, RRN blind indexes, residents looked up a batch at a time, households
   checked, 1,000 lines a transaction. Reference: plain INSERTs of the same rows, 1,000 a
   transaction.

The residents are registered first (not measured) through `residents import`, so household and
RRN blind indexes are the real ones. Target: each path at >= 0.33x its reference's rate.

Usage: `.venv/bin/python bench/bench_kimchi.py [--households N] [--backend sqlite|postgresql|both]`
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, cast

from benchkit import (
    backend_arguments,
    backends,
    database_line,
    machine_line,
    migrated_database,
    size_argument,
    throwaway_database,
)
from sqlalchemy import Table, func, insert, select

from services import demo, kimchi
from services.resident_import import import_residents
from welfare.database import Database
from welfare.models import Actor, KimchiAllocation, Role

GOAL_RATIO = 0.33
BATCH = 1000
DONGS_FILE = Path(__file__).resolve().parent.parent / "config" / "dongs.json"
SUPERVISOR = Actor(staff_id=None, role=Role.SUPERVISOR, dongs=frozenset())
SYSTEM = Actor.system("bench")


def dong_names() -> dict[str, str]:
    return {d["code"]: d["name"] for d in json.loads(DONGS_FILE.read_text(encoding="utf-8"))}


def campaign(db: Database, name: str, box_count: int, now: datetime) -> uuid.UUID:
    today = now.date()
    with db.new_session() as s:
        return kimchi.create_campaign(
            s,
            actor=SYSTEM,
            name=name,
            starts_on=date(today.year, 1, 1),
            ends_on=date(today.year, 12, 31),
            box_count=box_count,
            now=now,
        ).id


def rows_of(db: Database, campaign_id: uuid.UUID, into: uuid.UUID) -> list[dict[str, Any]]:
    """The allocation rows a measured path wrote, as fresh rows of another campaign."""
    table = cast(Table, KimchiAllocation.__table__)
    with db.new_session() as s:
        found = s.execute(select(table).where(table.c.campaign_id == campaign_id)).mappings()
        return [{**dict(r), "id": uuid.uuid4(), "campaign_id": into} for r in found]


def plain_insert(db: Database, rows: list[dict[str, Any]], batch: int) -> float:
    table = cast(Table, KimchiAllocation.__table__)
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        with db.transaction() as s:
            s.execute(insert(table), rows[start : start + batch])
    return time.perf_counter() - started


def report(label: str, count: int, seconds: float, ref_count: int, ref_seconds: float) -> None:
    rate, ref_rate = count / seconds, ref_count / ref_seconds
    ratio = rate / ref_rate
    print(f"  {label:<36} {rate:>10,.0f} households/s ({count:,} in {seconds:.2f} s)")
    print(
        f"  {'plain INSERT of the same rows (ref.)':<36} {ref_rate:>10,.0f} households/s "
        f"({ref_count:,} in {ref_seconds:.2f} s)"
    )
    verdict = "ok" if ratio >= GOAL_RATIO else "BELOW GOAL"
    print(f"    ratio {ratio:.2f} (goal >= {GOAL_RATIO:.2f}): {verdict}")


def run(backend: str, households: int, pg_url: str) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    with (
        TemporaryDirectory(prefix="welfare-bench-kimchi-") as tmp,
        throwaway_database(backend, "kimchi", pg_url) as url,
    ):
        db = migrated_database(url)
        try:
            print(database_line(db.engine))
            rng = random.Random(20261201)
            people = list(demo.fictional_residents(rng, households, dong_names(), today=now))
            with db.new_session() as s:
                registered = import_residents(s, actor=SYSTEM, rows=people, now=now).imported
            print(f"setup: {registered:,} residents registered (not measured)")

            # 1. By criteria, beside a plain INSERT of the same rows in one transaction.
            by_criteria = campaign(db, "criteria", households, now)
            started = time.perf_counter()
            with db.new_session() as s:
                result = kimchi.allocate_by_criteria(
                    s, actor=SYSTEM, campaign_id=by_criteria, agency="금천구청", now=now
                )
            seconds = time.perf_counter() - started
            rows = rows_of(db, by_criteria, campaign(db, "criteria-ref", households, now))
            ref_seconds = plain_insert(db, rows, batch=len(rows) or 1)
            print(
                f"allocation by criteria: {result.candidates:,} candidates, "
                f"{result.same_household:,} sharing a household"
            )
            report("allocate_by_criteria", result.allocated, seconds, len(rows), ref_seconds)

            # 2. An agency's CSV file, beside plain INSERTs 1,000 a transaction.
            path = Path(tmp) / "agency.csv"
            with path.open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["rrn"])
                writer.writerows([p.values["rrn"]] for p in people)
            by_file = campaign(db, "import", households, now)
            started = time.perf_counter()
            with path.open(encoding="utf-8-sig", newline="") as stream:
                lines = kimchi.read_allocation_csv(stream)
            with db.new_session() as s:
                imported = kimchi.import_allocations(
                    s,
                    actor=SYSTEM,
                    campaign_id=by_file,
                    agency="가산종합사회복지관",
                    lines=lines,
                    now=now,
                    batch_size=BATCH,
                )
            seconds = time.perf_counter() - started
            rows = rows_of(db, by_file, campaign(db, "import-ref", households, now))
            ref_seconds = plain_insert(db, rows, batch=BATCH)
            print(
                f"import of {imported.rows:,} lines: {len(imported.skipped):,} skipped "
                "(a household already on an earlier line)"
            )
            report("welfare kimchi import", imported.allocated, seconds, len(rows), ref_seconds)
            with db.new_session() as s:
                total = s.scalar(select(func.count()).select_from(KimchiAllocation))
            print(f"  {total:,} allocations stored in all")
        finally:
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_argument(
        parser, "households", "WELFARE_BENCH_KIMCHI_HOUSEHOLDS", 10_000, "households to allocate"
    )
    backend_arguments(parser)
    args = parser.parse_args()
    print(machine_line())
    for backend in backends(args.backend, args.pg_url):
        print(f"== {backend}: {args.households:,} households")
        run(backend, args.households, args.pg_url)


if __name__ == "__main__":
    main()
