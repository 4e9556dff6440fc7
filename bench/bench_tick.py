"""One follow-up tick over N enrolled residents with 1% lapsed, beside its physical floor.

The tick runs as the scheduler runs it (`run_job` with the `followups` job): it finds the
lapsed residents through the partial index on active `next_due_at`, raises one follow-up for
each with its `raised` event and outbox message, and commits. Its reference (issue 15) is the
physical floor measured in the same round: one scan of the due enrollments (the same partial
index, the columns the tick reads, fetched by the bare driver) plus bare multi-row INSERTs of
exactly the follow-up, event and outbox rows the tick wrote (read back after the tick, then
inserted by the bare driver in one transaction, the faster of 100-row VALUES lists and the
driver's executemany). Goal: the tick <= 2x the floor. A second tick at the same instant
must raise nothing: goal <= 1x one full scan of the enrollment table.

Each round runs the scan, the floor, the tick and the second tick back to back, then removes
what was written, so load on a shared machine hits the tick and its references alike.

    .venv/bin/python bench/bench_tick.py                       # 200,000 on both backends
    .venv/bin/python bench/bench_tick.py --enrolled 1000000    # the issue's size (~10 min)
    .venv/bin/python bench/bench_tick.py --enrolled 200000 --backend sqlite --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchkit import (
    analyze,
    backend_arguments,
    backends,
    database_line,
    explain,
    load_enrollments,
    load_residents,
    machine_line,
    median,
    migrated_database,
    pick_dongs,
    size_argument,
    sorted_ids,
    stopwatch,
    throwaway_database,
    verdict,
)
from sqlalchemy import JSON, Engine, event, text
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.rules import ongi as ongi_rule
from schedulers.runner import run_job
from welfare.database import Database
from welfare.models import Base

AS_OF = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul
TICK = Job("followups", run_followups)
GOAL_RATIO = 2.0  # the tick against its floor
IDLE_GOAL_RATIO = 1.0  # the second tick against one full scan
FLOOR_PAGE = 100  # rows per multi-row VALUES statement in the floor
SCANS_PER_ROUND = 3
# The reference: every row of the enrollment table read once (max() and sum() keep any index
# from answering it alone).
SCAN = "SELECT count(*), max(next_due_at), sum(interval_hours) FROM ongi_enrollments"
RAISED_TABLES = ("followup_events", "outbox", "followups", "scheduler_runs", "scheduler_leases")
# What the tick writes that the floor writes again (parents first).
WRITTEN_TABLES = ("followups", "followup_events", "outbox")
DUE_SCAN = (
    "SELECT id, resident_id, dong_code, risk_level, interval_hours, last_success_at, "
    "next_due_at FROM ongi_enrollments WHERE status = 'active' AND next_due_at <= {as_of} "
    "ORDER BY next_due_at"
)


@dataclass
class Statements:
    """Time spent inside cursor.execute, by statement kind, as the driver received them."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first: dict[str, tuple[str, Any]] = field(default_factory=dict)

    def total(self) -> float:
        return sum(self.seconds.values())


_KIND = re.compile(
    r"^\s*(?:(INSERT) INTO (\w+)|(UPDATE) (\w+)|(DELETE) FROM (\w+)|(SELECT).*?\bFROM (\w+))",
    re.IGNORECASE | re.DOTALL,
)


def statement_kind(sql: str) -> str:
    match = _KIND.match(sql)
    if not match:
        return sql.split(None, 2)[0].upper() + " (other)"
    words = [g for g in match.groups() if g]
    return f"{words[0].upper()} {words[1]}"


@contextmanager
def watched(engine: Engine) -> Iterator[Statements]:
    """Record each statement's execute time while the block runs."""
    stats = Statements()
    started: dict[int, float] = {}

    def before(_c: Any, cursor: DBAPICursor, sql: str, params: Any, *_: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(
        _c: Any, cursor: DBAPICursor, sql: str, params: Any, _x: ExecutionContext, _m: bool
    ) -> None:
        kind = statement_kind(sql)
        stats.seconds[kind] += time.perf_counter() - started.pop(id(cursor), time.perf_counter())
        stats.calls[kind] += 1
        stats.first.setdefault(kind, (sql, params))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield stats
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def scan_seconds(engine: Engine) -> float:
    best = float("inf")
    for _ in range(SCANS_PER_ROUND):
        with engine.connect() as conn, stopwatch() as elapsed:
            conn.execute(text(SCAN)).one()
        best = min(best, elapsed())
    return best


@dataclass
class Written:
    """The rows one tick wrote, as the driver reads them back, table by table."""

    columns: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def written_rows(engine: Engine) -> Written:
    """Read back what the tick wrote (JSON columns as text, so they insert as they were)."""
    written = Written()
    postgres = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in WRITTEN_TABLES:
            columns = [c.name for c in Base.metadata.tables[table].columns]
            json_columns = {
                c.name for c in Base.metadata.tables[table].columns if isinstance(c.type, JSON)
            }
            select_list = ", ".join(
                f"{c}::text" if postgres and c in json_columns else c for c in columns
            )
            cursor.execute(f"SELECT {select_list} FROM {table}")
            written.columns[table] = columns
            written.rows[table] = [tuple(r) for r in cursor.fetchall()]
        raw.rollback()
    finally:
        raw.close()
    return written


def floor_seconds(engine: Engine, written: Written, *, executemany: bool) -> tuple[float, int]:
    """One scan of the due enrollments + bare INSERTs of `written`, one transaction, committed;
    then the inserted rows are removed (not timed). The seconds and the due rows found."""
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with stopwatch() as elapsed:
            if not postgres:  # welfare.database leaves SQLite's transactions to the caller
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(DUE_SCAN.format(as_of=mark), (AS_OF if postgres else _sqlite_time(),))
            due = len(cursor.fetchall())
            for table in WRITTEN_TABLES:
                columns, rows = written.columns[table], written.rows[table]
                one = "(" + ", ".join(mark for _ in columns) + ")"
                head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                if executemany:
                    cursor.executemany(head + one, rows)
                    continue
                for start in range(0, len(rows), FLOOR_PAGE):
                    page = rows[start : start + FLOOR_PAGE]
                    flat = [value for row in page for value in row]
                    cursor.execute(head + ", ".join(one for _ in page), flat)
            raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        for table in reversed(WRITTEN_TABLES):
            conn.execute(text(f"DELETE FROM {table}"))
    return elapsed(), due


def _sqlite_time() -> str:
    return AS_OF.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def lapse_select_seconds(database: Database) -> tuple[float, int]:
    with database.new_session() as session, stopwatch() as elapsed:
        found = len(session.scalars(ongi_rule.lapsed(AS_OF)).all())
        session.rollback()
    return elapsed(), found


def timed_tick(database: Database) -> tuple[float, int, Statements]:
    with watched(database.engine) as stats, stopwatch() as elapsed:
        result = run_job(database, TICK, as_of=AS_OF)
    if result.status != "succeeded":
        raise SystemExit(f"the tick {result.status}: {result.error}")
    return elapsed(), int(result.counts["raised"]), stats


def second_tick_after_analyze(database: Database) -> None:
    """PostgreSQL plans the second tick with the statistics of the follow-up table as it was
    before the raise (empty here): a nested-loop anti-join, lapsed x live. Autovacuum analyzes
    after a large raise; run last, as it leaves statistics behind, this shows that cost."""
    timed_tick(database)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE followups"))
    scan = scan_seconds(database.engine)
    seconds, raised, _ = timed_tick(database)
    reset(database.engine)
    if raised != 0:
        raise SystemExit(f"a tick at the same instant raised {raised}")
    print(
        f"  {'second tick after ANALYZE followups':<44}{seconds:8.3f} s   {seconds / scan:.2f}x "
        f"(scan {scan:.3f} s this round)"
    )


def reset(engine: Engine) -> None:
    """Remove everything a tick wrote, so the next round starts from the same state."""
    with engine.begin() as conn:
        for table in RAISED_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in RAISED_TABLES:
                conn.execute(text(f"VACUUM {table}"))


def load(database: Database, enrolled: int, lapsed_share: float, seed: int) -> int:
    rng = random.Random(seed)
    lapsed_count = round(enrolled * lapsed_share)
    lapsed = set(rng.sample(range(enrolled), lapsed_count))
    ids = sorted_ids(enrolled, rng)
    dongs = pick_dongs(enrolled, rng)
    with stopwatch() as loading:
        load_residents(database.engine, ids, dongs, rng, AS_OF)
        load_enrollments(
            database.engine,
            resident_ids=ids,
            dongs=dongs,
            lapsed=lapsed.__contains__,
            as_of=AS_OF,
            rng=rng,
        )
    with stopwatch() as analyzing:
        analyze(database.engine)
    note = f" (+ VACUUM ANALYZE {analyzing():.1f} s)" if database.dialect == "postgresql" else ""
    print(
        f"data: {enrolled:,} residents enrolled, all active (risk high/medium/low 20/35/45%), "
        f"{lapsed_count:,} lapsed ({lapsed_count / enrolled:.2%}, up to 3 days late), the rest "
        f"due within one interval; loaded in {loading():.1f} s{note}"
    )
    return lapsed_count


@dataclass
class Rounds:
    """What the rounds measured, and round 1's statement timings and second-tick plans."""

    figures: list[dict[str, float]] = field(default_factory=list)
    first: Statements = field(default_factory=Statements)
    second: Statements = field(default_factory=Statements)
    second_plans: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 0  # the rows the floor inserts (the tick's follow-ups, events, outbox rows)

    def median(self, name: str) -> float:
        return median([r[name] for r in self.figures])


def measure(database: Database, args: argparse.Namespace, lapsed: int) -> Rounds:
    engine = database.engine
    scan_seconds(engine)  # warm the cache for the reference and the tick alike
    lapse_select_seconds(database)
    rounds = Rounds()
    written: Written | None = None
    values = many = 0.0
    due = 0
    with stopwatch() as spent:
        for number in range(1, args.rounds + 1):
            if number > 1 and spent() > args.budget:
                print(f"  (no round {number}: over the {args.budget:.0f} s budget)")
                break
            scan = scan_seconds(engine)
            alone, found = lapse_select_seconds(database)
            if written is not None:  # the floor, from the rows round 1's tick wrote
                values, due = floor_seconds(engine, written, executemany=False)
                many, _ = floor_seconds(engine, written, executemany=True)
            tick, raised, stats = timed_tick(database)
            if written is None:
                written = written_rows(engine)
                with engine.begin() as conn:  # the floor runs where the tick ran: empty tables
                    for table in reversed(WRITTEN_TABLES):
                        conn.execute(text(f"DELETE FROM {table}"))
                values, due = floor_seconds(engine, written, executemany=False)
                many, _ = floor_seconds(engine, written, executemany=True)
                tick, raised, stats = timed_tick(database)
            again, raised_again, again_stats = timed_tick(database)
            if raised != lapsed or found != lapsed or raised_again != 0 or due != lapsed:
                raise SystemExit(
                    f"wrong counts: lapsed {lapsed}, found {found}, raised {raised}, "
                    f"second tick raised {raised_again}, floor scan found {due}"
                )
            if number == 1:  # the second tick's plans, while the follow-ups are live
                rounds.first, rounds.second = stats, again_stats
                rounds.second_plans = {
                    kind: explain(engine, *again_stats.first[kind])
                    for kind in ("SELECT ongi_enrollments", "SELECT followups")
                }
            floor = min(values, many)
            rounds.figures.append(
                {
                    "scan": scan,
                    "tick": tick,
                    "again": again,
                    "alone": alone,
                    "floor": floor,
                    "floor_values": values,
                    "floor_many": many,
                }
            )
            if written is not None:
                rounds.rows = written.count()
            print(
                f"  round {number}: full scan {scan:.3f} s | floor {floor:.3f} s | tick "
                f"{tick:.3f} s (raised {raised:,}) | second tick {again:.3f} s (raised 0) | "
                f"lapse SELECT alone {alone:.3f} s"
            )
            reset(engine)
    return rounds


def run_backend(url: str, args: argparse.Namespace) -> None:
    database = migrated_database(url)
    try:
        print(database_line(database.engine))
        lapsed = load(database, args.enrolled, args.lapsed_share, args.seed)
        rounds = measure(database, args, lapsed)
        print("plan of the tick's lapse SELECT as it was sent, before raising:")
        for line in explain(database.engine, *rounds.first.first["SELECT ongi_enrollments"]):
            print(f"    {line}")
        print("plans of the second tick, with the first tick's follow-ups live:")
        for kind, lines in rounds.second_plans.items():
            print(f"  {kind} ({rounds.second.seconds[kind]:.3f} s inside execute):")
            for line in lines:
                print(f"    {line}")
        summarize(rounds, database.engine.dialect.name, args.enrolled, lapsed)
        if database.dialect == "postgresql":
            second_tick_after_analyze(database)
        if args.profile:
            profile_tick(database)
    finally:
        database.dispose()


def summarize(rounds: Rounds, dialect: str, enrolled: int, lapsed: int) -> None:
    scan, tick = rounds.median("scan"), rounds.median("tick")
    again, alone = rounds.median("again"), rounds.median("alone")
    floor = rounds.median("floor")
    ratio = tick / floor
    idle = again / scan
    print(f"medians of {len(rounds.figures)} rounds ({dialect}, {enrolled:,} enrolled):")
    print(
        f"  {'floor: due scan + bare INSERTs (reference)':<44}{floor:8.3f} s   "
        f"({rounds.rows:,} rows; {FLOOR_PAGE}-row VALUES {rounds.median('floor_values'):.3f} s, "
        f"executemany {rounds.median('floor_many'):.3f} s)"
    )
    print(
        f"  {f'tick via run_job, raising {lapsed:,}':<44}{tick:8.3f} s   {ratio:.2f}x the floor "
        f"(goal <= {GOAL_RATIO:.0f}x): {verdict(ratio <= GOAL_RATIO)}"
    )
    print(f"  {'full scan of ongi_enrollments':<44}{scan:8.3f} s   (the tick: {tick / scan:.2f}x)")
    print(
        f"  {'second tick, same instant, raising 0':<44}{again:8.3f} s   {idle:.2f}x the scan "
        f"(goal <= {IDLE_GOAL_RATIO:.0f}x): {verdict(idle <= IDLE_GOAL_RATIO)}"
    )
    print(f"  {'lapse SELECT alone (rows, no lock)':<44}{alone:8.3f} s   {alone / scan:.2f}x")
    first = rounds.figures[0]
    for label, took, stats in (
        ("tick", first["tick"], rounds.first),
        ("second tick", first["again"], rounds.second),
    ):
        print(f"  where round 1's {label} went ({took:.3f} s), time inside execute:")
        for kind, seconds in sorted(stats.seconds.items(), key=lambda kv: -kv[1])[:6]:
            print(f"    {kind:<32} {stats.calls[kind]:>5} calls {seconds:8.3f} s")
        rest = took - stats.total()
        print(f"    {'Python, row fetches, commit':<32} {'':>11} {rest:8.3f} s")


def profile_tick(database: Database) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    result = run_job(database, TICK, as_of=AS_OF)
    profiler.disable()
    reset(database.engine)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(22)
    stats.sort_stats("cumulative").print_stats(
        r"schedulers|services|sqlalchemy/orm/(session|unitofwork)", 18
    )
    print(f"cProfile of one more tick (raised {result.counts.get('raised')}; profiler overhead):")
    for line in out.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered by", "   List reduced")):
            print(f"    {line.rstrip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_argument(parser, "enrolled", "BENCH_ENROLLED", 200_000, "enrolled residents")
    parser.add_argument("--lapsed-share", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--budget", type=float, default=150.0, help="start no new round after this many seconds"
    )
    parser.add_argument("--seed", type=int, default=20261102)
    parser.add_argument("--profile", action="store_true", help="cProfile one more tick")
    parser.add_argument("--no-what-if", action="store_true", help=argparse.SUPPRESS)  # old flag
    backend_arguments(parser)
    args = parser.parse_args()
    print(machine_line())
    print(
        "reference: the physical floor of the same round (one scan of the due enrollments + "
        "bare multi-row INSERTs of the rows the tick wrote); the idle tick beside one full scan"
    )
    for backend in backends(args.backend, args.pg_url):
        print(f"== {backend}")
        with throwaway_database(backend, "tick", args.pg_url) as url:
            run_backend(url, args)


if __name__ == "__main__":
    main()
