"""A gateway that 6,000 sensor households depend on falls silent: the tick that raises its
incident and their grouped lapses, and the staff queue afterwards, beside the same households
lapsing with no gateway behind them (one notice per resident) in the same run.

Two rounds on one database, the same households and the same instant:
  reference   the households' last contacts came from no gateway: the Ongi rule raises one
              lapse each, each with its own outbox notice
  silence     their last contacts came through one gateway, silent for days: the tick raises one
              `gateway_silent` incident and the same lapses grouped under it, notified once per
              team (dong)
For each: the tick through `run_job`, the outbox messages it wrote, and the queue afterwards
("live follow-ups of one dong, first 50", `list_followups`, p50/p99 over random dongs); for the
silence round also the incident's grouped list (`incident_followups`, highest risk first).

    .venv/bin/python bench/bench_gateway_silence.py                  # 6,000 on both backends
    .venv/bin/python bench/bench_gateway_silence.py --households 20000 --backend sqlite
"""

from __future__ import annotations

import argparse
import random
import uuid
from datetime import UTC, datetime, timedelta

from benchkit import (
    DONGS,
    analyze,
    backend_arguments,
    backends,
    database_line,
    load_enrollments,
    load_residents,
    machine_line,
    migrated_database,
    percentile,
    pick_dongs,
    size_argument,
    sorted_ids,
    stopwatch,
    throwaway_database,
)
from sqlalchemy import func, select, text, update

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import gateway_silence
from services import staff as staff_service
from services.followup_queue import list_followups
from welfare.crypto.passwords import make_hasher
from welfare.database import Database
from welfare.models import Actor, FollowUp, GatewayWatch, OngiEnrollment, OutboxMessage, Role

AS_OF = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul
TICK = Job("followups", run_followups)
RAISED_TABLES = ("followup_events", "outbox", "followups", "scheduler_runs", "scheduler_leases")


def load(database: Database, households: int, background: int, seed: int) -> None:
    rng = random.Random(seed)
    total = households + background
    ids = sorted_ids(total, rng)
    dongs = pick_dongs(total, rng)
    silent = set(rng.sample(range(total), households))
    with stopwatch() as loading:
        load_residents(database.engine, ids, dongs, rng, AS_OF)
        load_enrollments(
            database.engine,
            resident_ids=ids,
            dongs=dongs,
            lapsed=silent.__contains__,
            as_of=AS_OF,
            rng=rng,
        )
    analyze(database.engine)
    print(
        f"data: {total:,} residents enrolled; {households:,} of them sensor households past "
        f"their interval at the tick (up to 3 days late), the rest due later; loaded in "
        f"{loading():.1f} s"
    )


def make_gateway(database: Database) -> uuid.UUID:
    with database.new_session() as session:
        gateway = staff_service.create_staff(
            session,
            actor=None,
            username="bench-gateway",
            role="gateway",
            dongs=list(DONGS),
            display_name="스마트플러그 플랫폼",
            password=None,
            hasher=make_hasher("fast"),
            now=AS_OF - timedelta(days=30),
        )
        return gateway.id


def link_to_gateway(database: Database, gateway_id: uuid.UUID) -> None:
    """The lapsed households were last seen through the gateway, silent for four days."""
    with database.new_session() as session:
        session.execute(
            update(OngiEnrollment)
            .where(OngiEnrollment.next_due_at <= AS_OF)
            .values(last_success_gateway_id=gateway_id)
        )
        session.commit()
    with database.new_session() as session:
        session.add(
            GatewayWatch(
                gateway_id=gateway_id,
                last_signal_at=AS_OF - timedelta(days=4),
                batches=500,
                learned_interval_seconds=600,
                updated_at=AS_OF - timedelta(days=4),
            )
        )
        session.commit()
    analyze(database.engine)


def reset(database: Database) -> None:
    with database.engine.begin() as conn:
        for table in RAISED_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    analyze(database.engine)


def timed_tick(database: Database) -> tuple[float, dict[str, int]]:
    with stopwatch() as elapsed:
        result = run_job(database, TICK, as_of=AS_OF)
    if result.status != "succeeded":
        raise SystemExit(f"the tick {result.status}: {result.error}")
    return elapsed(), dict(result.counts)


def outbox_by_kind(database: Database) -> dict[str, int]:
    with database.new_session() as session:
        return {
            kind: int(count)
            for kind, count in session.execute(
                select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)
            )
        }


def queue_times(database: Database, actor: Actor, runs: int, rng: random.Random) -> list[float]:
    samples = []
    for _ in range(runs):
        dong = rng.choice(DONGS)
        with database.new_session() as session, stopwatch() as elapsed:
            list_followups(session, actor=actor, now=AS_OF, dong=dong, limit=50)
        samples.append(elapsed() * 1000)
    return samples


def group_times(database: Database, actor: Actor, incident_id: uuid.UUID, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        with database.new_session() as session, stopwatch() as elapsed:
            gateway_silence.incident_followups(
                session, actor=actor, incident_id=incident_id, limit=50
            )
        samples.append(elapsed() * 1000)
    return samples


def p(samples: list[float]) -> str:
    return f"p50 {percentile(samples, 50):7.2f} ms  p99 {percentile(samples, 99):7.2f} ms"


def run_backend(url: str, args: argparse.Namespace) -> None:
    database = migrated_database(url)
    rng = random.Random(args.seed)
    try:
        print(database_line(database.engine))
        load(database, args.households, args.background, args.seed)
        gateway_id = make_gateway(database)
        supervisor = Actor(staff_id=uuid.uuid4(), role=Role.SUPERVISOR, dongs=frozenset(DONGS))

        ref_tick, ref_counts = timed_tick(database)
        ref_outbox = outbox_by_kind(database)
        ref_queue = queue_times(database, supervisor, args.runs, rng)
        reset(database)

        link_to_gateway(database, gateway_id)
        tick, counts = timed_tick(database)
        outbox = outbox_by_kind(database)
        queue = queue_times(database, supervisor, args.runs, rng)
        with database.new_session() as session:
            [incident] = gateway_silence.live_incidents(session, [gateway_id])
            grouped = session.scalar(
                select(func.count())
                .select_from(FollowUp)
                .where(FollowUp.incident_id == incident.id)
            )
        group = group_times(database, supervisor, incident.id, args.runs)

        print(
            f"  tick             silence {tick:7.3f} s   reference {ref_tick:7.3f} s   "
            f"({tick / ref_tick:.2f}x)"
        )
        print(
            f"  raised           silence: 1 incident ({counts['gateway_silent_raised']}), "
            f"{counts['gateway_lapses_grouped']:,} grouped lapses ({grouped:,} under it), "
            f"{counts['raised']:,} by the Ongi rule;   reference: {ref_counts['raised']:,} lapses"
        )
        print(
            f"  outbox messages  silence {sum(outbox.values()):>6,} {dict(sorted(outbox.items()))}"
            f"   reference {sum(ref_outbox.values()):>6,} {dict(sorted(ref_outbox.items()))}"
        )
        print(f"  queue, one dong  silence {p(queue)}   reference {p(ref_queue)}")
        print(f"  incident's group (first 50, highest risk first) {p(group)}")
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_argument(
        parser, "households", "BENCH_SILENT_HOUSEHOLDS", 6_000, "households behind the gateway"
    )
    size_argument(
        parser, "background", "BENCH_ENROLLED", 100_000, "other enrolled residents, not due"
    )
    parser.add_argument("--runs", type=int, default=200, help="queue queries per round")
    parser.add_argument("--seed", type=int, default=20261130)
    backend_arguments(parser)
    args = parser.parse_args()
    print(machine_line())
    for backend in backends(args.backend, args.pg_url):
        print(f"== {backend}")
        with throwaway_database(backend, "silence", args.pg_url) as url:
            run_backend(url, args)


if __name__ == "__main__":
    main()
