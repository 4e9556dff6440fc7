"""The staff queue, "open follow-ups of one dong by due time, first 50", over 1,000,000
follow-ups, beside the same query without an index in the same run.

Measured (random dong each run, interleaved in blocks so load skews none of them):
  as issued   the SQL `services.followup_queue.list_followups` sends (captured from a real call and
              checked to be identical), executed with its bound parameters: the goal, p99 < 10 ms
  service     the whole `list_followups` call: ORM rows, its access record, the commit
  reference   the same query with no index: SQLite `NOT INDEXED`, PostgreSQL with index and
              bitmap scans disabled for the transaction (the plans below confirm a full scan)
  literal     (SQLite only) the same query with the live states as literals, as the partial
              index's WHERE is written: SQLite can prove a partial index usable only from
              literal terms, never from bound parameters

    .venv/bin/python bench/bench_queue.py                       # 1,000,000 on both backends
    .venv/bin/python bench/bench_queue.py --followups 200000 --backend postgresql
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from benchkit import (
    DONGS,
    analyze,
    backend_arguments,
    backends,
    bulk_insert,
    captured,
    database_line,
    explain,
    load_residents,
    machine_line,
    migrated_database,
    percentile,
    pick_dongs,
    size_argument,
    sorted_ids,
    stopwatch,
    throwaway_database,
    verdict,
)
from sqlalchemy import Select, Table, bindparam, select, text

from services import access
from services.followup_queue import list_followups
from services.followups import LIVE_STATES
from welfare.database import Database
from welfare.models import Actor, FollowUp, Role

NOW = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
GOAL_P99_MS = 10.0
LIMIT = 50
BLOCKS = 10
# Reasons of the follow-ups, with their program, subject type and share.
REASONS = (
    ("contact_lapsed", "ongi", "resident", 86),
    ("care_response_overdue", "care", "care_request", 6),
    ("delivery_failed", "kimchi", "resident", 5),
    ("ride_no_show", "ride", "resident", 3),
)
FOLLOWUP_COLUMNS = (
    "id",
    "subject_type",
    "subject_id",
    "resident_id",
    "dong_code",
    "program",
    "reason",
    "risk_level",
    "state",
    "step",
    "due_at",
    "next_escalation_at",
    "assignee_id",
    "raised_at",
    "raised_by_run_id",
    "resolved_at",
    "resolved_by",
    "outcome",
    "evidence",
    "version",
)
OUTCOMES = ("contact_made", "confirmed_safe", "hospitalized", "false_alarm", "referred")


def followup_rows(
    count: int,
    live_share: float,
    residents: list[uuid.UUID],
    dongs: list[str],
    rng: random.Random,
) -> Iterator[tuple[Any, ...]]:
    """Closed history over three years and a live tail over the last two weeks; a live one's
    (subject, reason) is unique, as the partial unique index demands."""
    live = set(rng.sample(range(count), round(count * live_share)))
    live_subjects = iter(rng.sample(range(len(residents)), len(live)))
    staff = [uuid.uuid4() for _ in range(60)]
    runs = [uuid.uuid4() for _ in range(5000)]
    reason_weights = [r[3] for r in REASONS]
    for i, followup_id in enumerate(sorted_ids(count, rng)):
        reason, program, subject_type, _ = rng.choices(REASONS, weights=reason_weights)[0]
        is_live = i in live
        who = next(live_subjects) if is_live else rng.randrange(len(residents))
        resident_id = residents[who]
        subject_id = uuid.uuid4() if subject_type == "care_request" else resident_id
        if is_live:
            raised = NOW - timedelta(seconds=rng.uniform(0, 14 * 86400))
            escalated = rng.random() < 0.3
            state, step = ("escalated", rng.randint(2, 4)) if escalated else ("open", 1)
            next_escalation = raised + timedelta(hours=rng.choice((4, 6, 12, 24, 48)))
            resolved_at = resolved_by = outcome = None
            assignee = rng.choice(staff) if rng.random() < 0.3 else None
        else:
            raised = NOW - timedelta(seconds=rng.uniform(14 * 86400, 3 * 365 * 86400))
            state = "resolved" if rng.random() < 0.88 else "cancelled"
            step, next_escalation = rng.randint(1, 3), None
            resolved_at = raised + timedelta(seconds=rng.uniform(1800, 5 * 86400))
            resolved_by = rng.choice(staff) if state == "resolved" else None
            outcome = rng.choice(OUTCOMES) if state == "resolved" else "contact_made"
            assignee = rng.choice(staff) if rng.random() < 0.6 else None
        due = raised - timedelta(seconds=rng.uniform(0, 3 * 86400))
        risk = rng.choice(("high", "medium", "low")) if program == "ongi" else None
        evidence = {
            "enrollment_id": str(uuid.uuid4()),
            "risk_level": risk,
            "interval_hours": {"high": 24, "medium": 72, "low": 168}.get(risk or ""),
            "next_due_at": due.isoformat(),
        }
        yield (
            followup_id,
            subject_type,
            subject_id,
            resident_id,
            dongs[who],
            program,
            reason,
            risk,
            state,
            step,
            due,
            next_escalation,
            assignee,
            raised,
            rng.choice(runs),
            resolved_at,
            resolved_by,
            outcome,
            evidence,
            1 + step,
        )


def load(database: Database, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    count = args.followups
    resident_count = max(count // 5, round(count * args.live_share) + 1)
    ids = sorted_ids(resident_count, rng)
    dongs = pick_dongs(resident_count, rng)
    with stopwatch() as loading:
        load_residents(database.engine, ids, dongs, rng, NOW)
        bulk_insert(
            database.engine,
            cast(Table, FollowUp.__table__),
            FOLLOWUP_COLUMNS,
            followup_rows(count, args.live_share, ids, dongs, rng),
        )
    with stopwatch() as analyzing:
        analyze(database.engine)
    with database.engine.connect() as conn:
        live, per_dong = conn.execute(
            text(
                "SELECT count(*), count(*) / count(DISTINCT dong_code) FROM followups "
                "WHERE state IN ('open', 'escalated')"
            )
        ).one()
    note = f" (+ VACUUM ANALYZE {analyzing():.1f} s)" if database.dialect == "postgresql" else ""
    print(
        f"data: {count:,} follow-ups ({live:,} live = {live / count:.1%}, about {per_dong:,} per "
        f"dong; the rest resolved or cancelled over 3 years) of {resident_count:,} residents in "
        f"10 dongs; loaded in {loading():.1f} s{note}"
    )


def queue_statement(actor: Actor, dong: str, *, literal_states: bool = True) -> Select[Any]:
    """The statement list_followups builds for (dong=..., no other filter, no cursor)."""
    states: Any = LIVE_STATES
    if literal_states:
        states = bindparam("live_states", list(LIVE_STATES), expanding=True, literal_execute=True)
    stmt = select(FollowUp).where(access.dong_scope(actor, FollowUp.dong_code))
    stmt = stmt.where(FollowUp.state.in_(states))
    stmt = stmt.where(FollowUp.dong_code == dong)
    return stmt.order_by(FollowUp.due_at, FollowUp.id).limit(LIMIT + 1)


@dataclass
class Variant:
    name: str
    run: Callable[[str], int]  # one query for a dong; returns the rows it got
    target: int  # runs wanted
    budget: float  # seconds at most
    samples: list[float] = field(default_factory=list)
    spent: float = 0.0

    def block(self, rng: random.Random, blocks: int) -> None:
        """This variant's share of one block: 1/blocks of its runs and of its time budget."""
        share = -(-self.target // blocks)
        until = self.spent + self.budget / blocks
        for _ in range(share):
            if len(self.samples) >= self.target or self.spent >= until:
                return
            dong = rng.choice(DONGS)
            started = time.perf_counter()
            rows = self.run(dong)
            elapsed = time.perf_counter() - started
            if rows not in (LIMIT, LIMIT + 1):  # the service returns 50 of the 51 it reads
                raise SystemExit(f"{self.name}: {rows} rows for dong {dong}")
            self.samples.append(elapsed)
            self.spent += elapsed


class Queue:
    """The query variants on one loaded database, on one connection (a session for the service)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.engine = database.engine
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.actor = Actor(staff_id=uuid.uuid4(), role=Role.OUTREACH, dongs=frozenset(DONGS))
        self.conn = self.engine.connect()
        self.no_index_setup = (
            []
            if self.sqlite
            else [f"SET LOCAL {s} = off" for s in ("enable_indexscan", "enable_bitmapscan")]
        )
        self.not_indexed_sql = str(
            queue_statement(self.actor, "DONG").compile(
                dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}
            )
        ).replace("FROM followups", "FROM followups NOT INDEXED")

    def close(self) -> None:
        self.conn.close()

    def _rows(self, stmt: Any) -> int:
        rows = len(self.conn.execute(stmt).all())
        self.conn.rollback()
        return rows

    def as_issued(self, dong: str) -> int:
        return self._rows(queue_statement(self.actor, dong))

    def literal(self, dong: str) -> int:
        """The statement as it was before the fix: live states as bound parameters."""
        return self._rows(queue_statement(self.actor, dong, literal_states=False))

    def service(self, dong: str) -> int:
        with self.database.new_session() as session:
            return len(list_followups(session, actor=self.actor, now=NOW, dong=dong).items)

    def reference(self, dong: str) -> int:
        if self.sqlite:
            return self._rows(text(self.not_indexed_sql.replace("'DONG'", f"'{dong}'")))
        for statement in self.no_index_setup:
            self.conn.exec_driver_sql(statement)
        return self._rows(queue_statement(self.actor, dong))

    def issued_sql(self, dong: str) -> tuple[str, Any]:
        """What a real list_followups call sends, checked equal to the replayed statement."""
        with captured(self.engine) as seen, self.database.new_session() as session:
            list_followups(session, actor=self.actor, now=NOW, dong=dong)
        issued = next((s, p) for s, p in seen if "ORDER BY followups.due_at" in s)
        if self.sent(self.as_issued, dong)[0] != issued[0]:
            raise SystemExit("the replayed SQL differs from what list_followups sent")
        return issued

    def sent(self, run: Callable[[str], int], dong: str) -> tuple[str, Any]:
        with captured(self.engine) as seen:
            run(dong)
        return seen[-1]


def run_backend(url: str, args: argparse.Namespace) -> None:
    database = migrated_database(url)
    queue: Queue | None = None
    try:
        print(database_line(database.engine))
        load(database, args)
        queue = Queue(database)
        dong = DONGS[0]
        issued = queue.issued_sql(dong)
        print(f"SQL as list_followups sends it (shown for dong {dong}):\n    {issued[0]}")
        variants = [
            Variant("as issued (SQL of list_followups)", queue.as_issued, args.runs, args.budget),
            Variant("list_followups() whole call", queue.service, args.runs // 5, args.budget / 2),
            Variant("reference: no index", queue.reference, args.ref_runs, args.budget / 2),
        ]
        if queue.sqlite:
            variants.append(
                Variant("bound live states (before the fix)", queue.literal, args.runs, args.budget)
            )
        for variant in variants:  # warm each once, outside the figures
            variant.run(dong)
        rng = random.Random(args.seed + 1)
        for _ in range(BLOCKS):
            for variant in variants:
                variant.block(rng, BLOCKS)

        plans = [
            ("as issued", issued, []),
            ("reference", queue.sent(queue.reference, dong), queue.no_index_setup),
        ]
        if queue.sqlite:
            plans.append(("bound live states (old)", queue.sent(queue.literal, dong), []))
        queue.close()
        queue = None
        for label, (sql, params), setup in plans:
            print(f"plan, {label}:")
            for line in explain(database.engine, sql, params, setup):
                print(f"    {line}")
        report(variants, database.engine.dialect.name, args.followups)
    finally:
        if queue is not None:
            queue.close()
        database.dispose()


def report(variants: list[Variant], dialect: str, followups: int) -> None:
    print(f"latency per query, random dong each run ({dialect}, {followups:,} follow-ups):")
    for variant in variants:
        p50, p99 = (percentile(variant.samples, q) * 1000 for q in (50, 99))
        goal = ""
        if variant is variants[0]:
            goal = f"  goal p99 < {GOAL_P99_MS:.0f} ms: {verdict(p99 < GOAL_P99_MS)}"
        print(
            f"  {variant.name:<36} n={len(variant.samples):>5}  p50 {p50:9.2f} ms  "
            f"p99 {p99:9.2f} ms{goal}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_argument(parser, "followups", "BENCH_FOLLOWUPS", 1_000_000, "follow-ups in the table")
    parser.add_argument("--live-share", type=float, default=0.07)
    parser.add_argument("--runs", type=int, default=1000, help="queries per measured variant")
    parser.add_argument("--ref-runs", type=int, default=50, help="queries without an index")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds at most per variant (slow ones)"
    )
    parser.add_argument("--seed", type=int, default=20261103)
    backend_arguments(parser)
    args = parser.parse_args()
    print(machine_line())
    for backend in backends(args.backend, args.pg_url):
        print(f"== {backend}")
        with throwaway_database(backend, "queue", args.pg_url) as url:
            run_backend(url, args)


if __name__ == "__main__":
    main()
