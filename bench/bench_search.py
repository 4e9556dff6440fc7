"""Search by RRN and by phone among 100,000 residents: p50 and p99 beside a plain indexed lookup.

Usage: `.venv/bin/python bench/bench_search.py [RESIDENTS] [QUERIES]` (defaults 100,000 and
1,000; or WELFARE_BENCH_ROWS and WELFARE_BENCH_QUERIES). Runs on a temporary SQLite file, or on a
fresh PostgreSQL database when WELFARE_BENCH_DATABASE_URL is set.

The measured side is `services.residents.search_residents`, the whole use case a counselor's
search runs: blind index, scope predicate, candidate decryption (phone), the decryption of every
field shown, and the hash-chained access record, committed. The reference is an equality lookup on
an indexed, unencrypted column of a table of the same size. Queries alternate between the two,
so load on a shared machine hits both alike.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

from bench_import import arguments, plain_metadata, plain_residents, plain_rows, write_csv
from scratch_database import describe_machine, scratch_database
from sqlalchemy import select, text

from services import access
from services.resident_import import import_residents, read_csv
from services.residents import search_residents
from welfare.crypto.keyring import Keyring
from welfare.database import Database
from welfare.migrate import upgrade
from welfare.models import Actor, Role

WARM_UP = 20


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed(work: Callable[[], int], expected: int = 1) -> float:
    started = time.perf_counter()
    found = work()
    elapsed = time.perf_counter() - started
    if found < expected:
        raise AssertionError("a search missed a resident it should have found")
    return elapsed


def main() -> None:
    args = arguments(queries=True)
    size, queries = args.rows, args.queries
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="welfare-bench-search-") as tmp,
        scratch_database("search") as url,
    ):
        csv_path = Path(tmp) / "residents.csv"
        write_csv(csv_path, size, now)
        with csv_path.open(encoding="utf-8-sig", newline="") as stream:
            rows = read_csv(stream)
        db = Database(url, keyring=Keyring.generate(for_development=False))
        try:
            upgrade(db.engine)
            plain_metadata.create_all(db.engine)
            print(describe_machine(db.engine))
            started = time.perf_counter()
            with db.new_session() as session:
                summary = import_residents(session, actor=Actor.system("bench"), rows=rows, now=now)
            values = plain_rows(rows, now, set())
            with db.transaction() as session:
                session.execute(plain_residents.insert(), values)
            if db.dialect == "postgresql":  # the import analyzed its tables; the reference too
                with db.transaction() as session:
                    session.execute(text("ANALYZE bench_plain_residents"))
            print(
                f"residents: {summary.imported:,} encrypted and {len(values):,} plain rows "
                f"(set up in {time.perf_counter() - started:.0f} s); {queries:,} queries of "
                "each kind, after a warm-up"
            )

            rng = random.Random(7)
            people = [r.values for r in rows]
            with_mobile = [p for p in people if (p["phone"] or "").startswith("010-")]
            supervisor = Actor(
                staff_id=uuid.uuid4(),
                role=Role.SUPERVISOR,
                dongs=frozenset({p["dong"] or "" for p in people}),
                request_id="bench",
            )

            def encrypted(*, audited: bool = True, **criterion: str) -> Callable[[], int]:
                def search() -> int:
                    with db.new_session() as session:
                        found = search_residents(session, actor=supervisor, now=now, **criterion)
                        return len(found)

                def unrecorded() -> int:
                    # The same search without its access record, to show what each part costs.
                    with mock.patch.object(access, "record"):
                        return search()

                return search if audited else unrecorded

            def plain(column: str, value: str) -> Callable[[], int]:
                def work() -> int:
                    with db.new_session() as session:
                        stmt = select(plain_residents).where(plain_residents.c[column] == value)
                        return len(session.execute(stmt).all())

                return work

            results: dict[str, list[float]] = {
                k: [] for k in ("rrn", "rrn_bare", "rrn_ref", "phone", "phone_bare", "phone_ref")
            }
            for n in range(WARM_UP + queries):
                person = rng.choice(people)
                mobile = rng.choice(with_mobile)
                samples = {
                    "rrn": timed(encrypted(rrn=person["rrn"] or "")),
                    "rrn_bare": timed(encrypted(rrn=person["rrn"] or "", audited=False)),
                    "rrn_ref": timed(plain("rrn", person["rrn"] or "")),
                    "phone": timed(encrypted(phone=mobile["phone"] or "")),
                    "phone_bare": timed(encrypted(phone=mobile["phone"] or "", audited=False)),
                    "phone_ref": timed(plain("phone", mobile["phone"] or "")),
                }
                if n >= WARM_UP:
                    for kind, seconds in samples.items():
                        results[kind].append(seconds)
        finally:
            db.dispose()

    for label, kind in (("RRN", "rrn"), ("phone", "phone")):
        for title, key in (
            (f"search by {label} (encrypted, access record)", kind),
            (f"search by {label} (encrypted, no record)", f"{kind}_bare"),
            (f"plain indexed lookup by {label} (ref.)", f"{kind}_ref"),
        ):
            p50, p99 = percentiles(results[key])
            print(f"{title:<44} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
