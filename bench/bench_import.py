"""`residents import` throughput beside inserting the same rows unencrypted, in the same run.

Usage: `.venv/bin/python bench/bench_import.py [ROWS] [--jobs N]` (default 100,000 rows, or
WELFARE_BENCH_ROWS; `--jobs` as `welfare residents import --jobs`, default 1: one process).
Runs on a temporary SQLite file, or on a fresh PostgreSQL database when
WELFARE_BENCH_DATABASE_URL is set. Both sides read the same CSV file with the same parser and
commit one transaction per 1,000 rows. The measured side is the command's own path: validation,
the blind-index lookup of known RRNs, a data key per resident, five sealed fields, three blind
indexes and one access record per batch. The reference inserts the plaintext columns into an
indexed scratch table (RRN unique, phone and name indexed, as the registry's blind indexes are).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from scratch_database import describe_machine, scratch_database
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    insert,
    select,
)

from services import demo
from services.resident_import import (
    COLUMNS,
    DEFAULT_BATCH,
    ImportRow,
    import_residents,
    read_csv,
)
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.migrate import upgrade
from welfare.models import Actor, Resident

DEFAULT_ROWS = 100_000
CHUNK = 10_000  # rows per turn of each side
GOAL_RATIO = 1 / 3
DONGS_FILE = Path(__file__).resolve().parent.parent / "config" / "dongs.json"

plain_metadata = MetaData()
plain_residents = Table(
    "bench_plain_residents",
    plain_metadata,
    Column("id", Uuid, primary_key=True),
    Column("dong_code", String(10)),
    Column("birth_year", Integer),
    Column("sex", String(6)),
    Column("household_type", String(30)),
    Column("name", Text),
    Column("rrn", String(14), unique=True),
    Column("phone", String(20)),
    Column("address", Text),
    Column("created_at", DateTime(timezone=True)),
    Index("ix_bench_plain_residents_phone", "phone"),
    Index("ix_bench_plain_residents_name", "name"),
)


def count(raw: str) -> int:
    """A whole number of at least 1, written 100000, 100,000 or 100_000."""
    try:
        value = int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def env_count(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return count(raw) if raw else default


def arguments(*, queries: bool = False, jobs: bool = False) -> argparse.Namespace:
    """ROWS (and for the search bench QUERIES) as positional arguments; `--help` explains."""
    main_module = sys.modules["__main__"].__doc__ or ""
    parser = argparse.ArgumentParser(
        description=main_module.strip().splitlines()[0] if main_module.strip() else None,
        epilog="Set WELFARE_BENCH_DATABASE_URL to run on a fresh PostgreSQL database instead of "
        "a temporary SQLite file.",
    )
    parser.add_argument(
        "rows",
        nargs="?",
        type=count,
        default=env_count("WELFARE_BENCH_ROWS", DEFAULT_ROWS),
        help=f"residents to load (default {DEFAULT_ROWS:,}, or WELFARE_BENCH_ROWS)",
    )
    if jobs:
        parser.add_argument(
            "--jobs",
            type=count,
            default=1,
            help="worker processes checking and sealing rows while the import writes, as "
            "`welfare residents import --jobs` (default 1: everything in one process; the "
            "command's own default is the CPU count)",
        )
    if queries:
        parser.add_argument(
            "queries",
            nargs="?",
            type=count,
            default=env_count("WELFARE_BENCH_QUERIES", 1_000),
            help="searches of each kind (default 1,000, or WELFARE_BENCH_QUERIES)",
        )
    return parser.parse_args()


def dong_names() -> dict[str, str]:
    return {d["code"]: d["name"] for d in json.loads(DONGS_FILE.read_text(encoding="utf-8"))}


def write_csv(path: Path, rows: int, now: datetime) -> None:
    """Fictional residents (services.demo's generator), one per line, as an operator exports."""
    rng = random.Random(20261124)
    people = demo.fictional_residents(rng, rows, dong_names(), today=now)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for person in people:
            writer.writerow([person.values[c] or "" for c in COLUMNS])


def plain_rows(rows: list[ImportRow], now: datetime, seen: set[str]) -> list[dict[str, Any]]:
    """The plaintext columns of each row (a repeated RRN is skipped, as the import does)."""
    values = []
    for row in rows:
        v = row.values
        rrn = v["rrn"] or ""
        if rrn in seen:
            continue
        seen.add(rrn)
        values.append(
            {
                "id": uuid.uuid4(),
                "dong_code": v["dong"],
                "birth_year": 1900 + int(rrn[:2]),
                "sex": "male" if rrn[7] in "13579" else "female",
                "household_type": v["household_type"],
                "name": v["name"],
                "rrn": rrn,
                "phone": v["phone"],
                "address": v["address"],
                "created_at": now,
            }
        )
    return values


def insert_plain(db: Database, rows: list[ImportRow], now: datetime, seen: set[str]) -> int:
    values = plain_rows(rows, now, seen)
    for start in range(0, len(values), DEFAULT_BATCH):
        with db.transaction() as session:
            session.execute(insert(plain_residents), values[start : start + DEFAULT_BATCH])
    return len(values)


def import_encrypted(
    db: Database, rows: list[ImportRow], now: datetime, jobs: int
) -> tuple[int, int]:
    with db.new_session() as session:
        summary = import_residents(
            session, actor=Actor.system("bench"), rows=rows, now=now, jobs=jobs
        )
    return summary.imported, len(summary.bad)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def main() -> None:
    args = arguments(jobs=True)
    rows, jobs = args.rows, args.jobs
    now = datetime.now(UTC)
    with (
        TemporaryDirectory(prefix="welfare-bench-import-") as tmp,
        scratch_database("import") as url,
    ):
        csv_path = Path(tmp) / "residents.csv"
        write_csv(csv_path, rows, now)
        db = Database(url, keyring=Keyring.generate(for_development=False))
        try:
            upgrade(db.engine)
            plain_metadata.create_all(db.engine)
            print(describe_machine(db.engine))
            print(
                f"rows: {rows:,} fictional residents in one CSV file, batches of {DEFAULT_BATCH:,}"
                f"; import with --jobs {jobs} ({'one process' if jobs == 1 else f'{jobs} workers'}"
                f" on {os.cpu_count()} CPUs); {load_average()}"
            )

            started = time.perf_counter()
            with csv_path.open(encoding="utf-8-sig", newline="") as stream:
                rows_read = read_csv(stream)
            read_seconds = time.perf_counter() - started
            # Both sides start from the same parsed rows, and take turns chunk by chunk, so a
            # burst of load on a shared machine hits the import and its reference alike.
            plain = imported = bad = 0
            plain_seconds = import_seconds = read_seconds
            seen: set[str] = set()
            for start in range(0, len(rows_read), CHUNK):
                chunk = rows_read[start : start + CHUNK]
                started = time.perf_counter()
                plain += insert_plain(db, chunk, now, seen)
                plain_seconds += time.perf_counter() - started
                started = time.perf_counter()
                done, failed = import_encrypted(db, chunk, now, jobs)
                import_seconds += time.perf_counter() - started
                imported += done
                bad += failed

            with db.transaction() as session:
                stored = session.scalar(select(func.count()).select_from(Resident))
        finally:
            db.dispose()
    plain_rate = plain / plain_seconds
    import_rate = imported / import_seconds
    ratio = import_rate / plain_rate
    print(
        f"residents import (encrypted)       {import_rate:>10,.0f} residents/s "
        f"({imported:,} in {import_seconds:.1f} s; {bad} bad rows; {stored:,} stored)"
    )
    print(
        f"plain INSERT, unencrypted (ref.)   {plain_rate:>10,.0f} residents/s "
        f"({plain:,} in {plain_seconds:.1f} s)"
    )
    print(
        f"  both include reading the CSV file ({read_seconds:.1f} s); {load_average()} at the end"
    )
    print(f"  ratio {ratio:.2f} (goal >= {GOAL_RATIO:.2f})")
    if ratio < GOAL_RATIO:
        # Reported, not failed: a busy machine skews one run, and benchmarks are never gates.
        print(f"!! the import is below {GOAL_RATIO:.0%} of unencrypted inserts on this run")


if __name__ == "__main__":
    main()
