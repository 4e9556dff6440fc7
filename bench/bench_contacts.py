"""Contacts logged per second on PostgreSQL through `services.ongi.log_contact`, with 1 and 4
concurrent client processes, beside raw single-row INSERTs with the same concurrency (the
issue's reference) and the statement floor: one transaction of as many bare INSERTs as a contact
sends statements, the most any contact of that many round trips could reach on this machine.

Each client is a process with its own engine and staff actor, working through its own slice of
enrolled residents (one contact per resident, so clients never wait on each other's resident
rows). Each contact is what the API does for `POST .../contacts`: its own transaction with a
`client_ref`, a successful outcome that moves `last_success_at`/`next_due_at` under the
enrollment's row lock, resolves the open lapse follow-up of the ~10% of residents the tick found
lapsed, and appends a sealed access record (no lock: the `audit_link` job links it into the
keyed chain, and runs here every `--link-every` seconds in the parent while the clients log,
as a scheduler node would). While clients run, the parent samples pg_stat_activity to show what
the backends wait on; at the end it drains what is left to link and times it.

    .venv/bin/python bench/bench_contacts.py                    # 20 s or 5,000 contacts a client
    .venv/bin/python bench/bench_contacts.py --seconds 5 --contacts 1000
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import multiprocessing.synchronize
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from benchkit import (
    DONGS,
    analyze,
    backend_arguments,
    backends,
    captured,
    database_line,
    libpq_url,
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
from sqlalchemy import text

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import ongi
from services.audit import link_chains, record_access
from welfare.crypto.keyring import Keyring
from welfare.database import Database, database_now
from welfare.models import Actor, Role

WARMUP = 20  # contacts per client before the clock starts (connections, caches, prepares)
CHANNELS = ("phone", "visit", "message", "ai_call", "phone", "phone")
SCRATCH = "CREATE TABLE bench_scratch (id bigserial PRIMARY KEY, client int, at timestamptz "
SCRATCH += "NOT NULL DEFAULT now(), payload text)"
SAMPLE = """
SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU'), count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend' AND state = 'active'
GROUP BY 1
"""


@dataclass
class ClientResult:
    index: int
    started: float
    ended: float
    latencies: list[float]
    cpu: float = 0.0  # the client process's own CPU seconds over the measured operations
    error: str | None = None


@dataclass(frozen=True)
class ClientSpec:
    kind: str  # "contacts" (log_contact), "raw" (the reference INSERT) or "floor" (see below)
    index: int
    url: str
    keyring_json: dict[str, Any]
    residents: Sequence[uuid.UUID]
    seconds: float
    limit: int
    statements: int = 1  # for "floor": the statements of one transaction


def client(spec: ClientSpec, barrier: multiprocessing.synchronize.Barrier, results: Any) -> None:
    """One client process: warm up, wait for the others, then log until time or count runs out."""
    try:
        if spec.kind == "contacts":
            one = contact_logger(spec.url, spec.keyring_json, spec.residents, spec.index)
        elif spec.kind == "floor":
            one = bare_transaction(spec.url, spec.index, spec.statements)
        else:
            one = raw_inserter(spec.url, spec.index)
        for n in range(WARMUP):
            one(n)
        barrier.wait()
        latencies: list[float] = []
        started = time.monotonic()
        cpu_started = time.process_time()
        for n in range(WARMUP, WARMUP + spec.limit):
            if time.monotonic() - started >= spec.seconds:
                break
            begun = time.perf_counter()
            one(n)
            latencies.append(time.perf_counter() - begun)
        cpu = time.process_time() - cpu_started
        results.put(ClientResult(spec.index, started, time.monotonic(), latencies, cpu))
    except Exception as exc:  # report it to the parent instead of dying silently
        barrier.abort()
        results.put(ClientResult(spec.index, 0.0, 0.0, [], error=f"{type(exc).__name__}: {exc}"))


def contact_logger(
    url: str, keyring_json: dict[str, Any], residents: Sequence[uuid.UUID], index: int
) -> Any:
    database = Database(url, keyring=Keyring.from_json(keyring_json), pool_size=1, max_overflow=0)
    actor = Actor(staff_id=uuid.uuid4(), role=Role.OUTREACH, dongs=frozenset(DONGS), ip="127.0.0.1")
    rng = random.Random(index)

    def one(n: int) -> None:
        now = datetime.now(UTC)
        with database.new_session() as session:
            logged = ongi.log_contact(
                session,
                actor=actor,
                resident_id=residents[n],
                channel=rng.choice(CHANNELS),
                outcome="unwell" if rng.random() < 0.05 else "reached",
                occurred_at=now - timedelta(seconds=rng.uniform(0, 1800)),
                now=now,
                client_ref=f"bench-{uuid.uuid4()}",
            )
        if not logged.created:
            raise RuntimeError("a fresh client_ref was taken for a retry")

    return one


def raw_inserter(url: str, index: int) -> Any:
    conn = psycopg.connect(libpq_url(url), autocommit=True)
    payload = "x" * 120

    def one(_n: int) -> None:
        conn.execute(
            "INSERT INTO bench_scratch (client, payload) VALUES (%s, %s)", (index, payload)
        )

    return one


def bare_transaction(url: str, index: int, statements: int) -> Any:
    """The statement floor: one transaction of as many bare single-row INSERTs as one
    log_contact sends statements, through the bare driver (what ten round trips cost with no
    Python above the driver and no work in the database beyond an INSERT each)."""
    conn = psycopg.connect(libpq_url(url), autocommit=True)
    payload = "x" * 120

    def one(_n: int) -> None:
        with conn.transaction():
            for _ in range(statements):
                conn.execute(
                    "INSERT INTO bench_scratch (client, payload) VALUES (%s, %s)", (index, payload)
                )

    return one


@dataclass
class RunResult:
    ops: int
    seconds: float
    latencies: list[float]
    waits: dict[str, float]  # mean backends per sample, by what they wait on
    cpu: float  # the clients' own CPU seconds, all together

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def cpu_per_op(self) -> float:
        """Client CPU per operation: what the Python side costs, whatever the database does."""
        return self.cpu / max(self.ops, 1)


def run_clients(
    database: Database,
    *,
    kind: str,
    url: str,
    keyring: Keyring,
    slices: list[list[uuid.UUID]],
    args: argparse.Namespace,
    statements: int = 1,
) -> RunResult:
    """Start one process per slice, release them together, sample waits until all report."""
    clients = len(slices)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    specs = [
        ClientSpec(
            kind, i, url, keyring.to_json(), slices[i], args.seconds, args.contacts, statements
        )
        for i in range(clients)
    ]
    processes = [ctx.Process(target=client, args=(spec, barrier, results)) for spec in specs]
    for process in processes:
        process.start()
    stop = threading.Event()
    linker = threading.Thread(target=link_every, args=(database, args.link_every, stop))
    if kind == "contacts":
        linker.start()
    collected: list[ClientResult] = []
    samples: Counter[str] = Counter()
    sample_count = 0
    try:
        barrier.wait(timeout=120)
        with database.engine.connect() as conn:
            while len(collected) < clients:
                sampled = dict(conn.execute(text(SAMPLE)).all())
                for wait, count in sampled.items():
                    samples[wait] += count
                samples["samples with a Lock:advisory wait"] += "Lock:advisory" in sampled
                sample_count += 1
                conn.rollback()
                with contextlib.suppress(queue.Empty):
                    collected.append(results.get(timeout=0.02))
    except threading.BrokenBarrierError:
        collected += [results.get(timeout=30) for _ in range(clients - len(collected))]
    finally:
        for process in processes:
            process.join(timeout=60)
        stop.set()
        if linker.is_alive():
            linker.join(timeout=120)
    errors = [r.error for r in collected if r.error]
    if errors:
        raise SystemExit(f"a {kind} client failed: {errors[0]}")
    latencies = [t for r in collected for t in r.latencies]
    seconds = max(r.ended for r in collected) - min(r.started for r in collected)
    waits = {k: v / max(sample_count, 1) for k, v in samples.items()}
    cpu = sum(r.cpu for r in collected)
    return RunResult(len(latencies), seconds, latencies, waits, cpu)


def link_every(database: Database, every: float, stop: threading.Event) -> None:
    """The `audit_link` job's work, as a scheduler node does it while requests append."""
    while not stop.wait(every):
        with database.transaction() as session:
            link_chains(session)


def link_backlog(database: Database, count: int, raw_rate: float) -> str:
    """The linking job's own rate: a backlog appended unlinked, then linked in one run."""
    actor = Actor(staff_id=uuid.uuid4(), role=Role.OUTREACH, dongs=frozenset(DONGS))
    with database.transaction() as session:
        for _ in range(count):
            record_access(session, actor=actor, action="read", resident_ids=[uuid.uuid4()])
    with stopwatch() as linking, database.transaction() as session:
        linked = link_chains(session)["access_linked"]
    rate = linked / linking()
    return (
        f"linking: a backlog of {linked:,} access records linked in one run in {linking():.2f} s "
        f"= {rate:,.0f}/s, {rate / raw_rate:.1f}x the raw single-row INSERTs of the last run "
        f"({raw_rate:,.0f}/s)"
        + (
            ": the job drains faster than bare INSERTs can append"
            if rate > raw_rate
            else ": slower than bare INSERTs append"
        )
    )


def describe_waits(waits: dict[str, float]) -> str:
    blocked = waits.pop("samples with a Lock:advisory wait", 0.0)
    shown = sorted(waits.items(), key=lambda kv: -kv[1])[:4]
    listed = ", ".join(f"{k} {v:.2f}" for k, v in shown if v >= 0.01) or "none"
    return listed + (f" (someone waits on the advisory lock in {blocked:.0%})" if blocked else "")


def sent_by_one_contact(database: Database, resident_id: uuid.UUID) -> list[str]:
    """The statements one log_contact sends (COMMIT aside)."""
    actor = Actor(staff_id=uuid.uuid4(), role=Role.OUTREACH, dongs=frozenset(DONGS))
    now = datetime.now(UTC)
    with captured(database.engine) as seen, database.new_session() as session:
        ongi.log_contact(
            session,
            actor=actor,
            resident_id=resident_id,
            channel="phone",
            outcome="reached",
            occurred_at=now,
            now=now,
            client_ref=f"bench-{uuid.uuid4()}",
        )
    return [sql for sql, _ in seen]


def statements_of_one_contact(database: Database, resident_id: uuid.UUID) -> str:
    """What one log_contact sends, and how much of it runs under the audit chain's lock."""
    sent = sent_by_one_contact(database, resident_id)
    locks = [i + 1 for i, sql in enumerate(sent) if "advisory" in sql]
    audit = [i + 1 for i, sql in enumerate(sent) if "audit_" in sql]
    listing = "".join(
        f"\n    {i:>2}. {' '.join(sql.split())[:110]}" for i, sql in enumerate(sent, start=1)
    )
    return (
        f"one log_contact resolving a lapse sends {len(sent)} statements and a COMMIT; "
        f"access records: statement {', '.join(map(str, audit)) or 'none'} "
        f"({'an advisory lock at ' + ', '.join(map(str, locks)) if locks else 'no lock taken'})"
        + listing
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_argument(parser, "contacts", "BENCH_CONTACTS", 5000, "contacts per client at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per run at most")
    parser.add_argument("--clients", default="1,4", help="client counts to run")
    parser.add_argument("--lapsed-share", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=20261104)
    parser.add_argument(
        "--link-every", type=float, default=5.0, help="seconds between linking runs (the job's 5)"
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=20_000,
        help="access records appended unlinked, then linked in one run and timed (0: skip)",
    )
    backend_arguments(parser, sqlite=False)
    args = parser.parse_args()
    print(machine_line())
    if not backends("postgresql", args.pg_url):
        return
    with throwaway_database("postgresql", "contacts", args.pg_url) as url:
        keyring = Keyring.generate(for_development=False)
        database = migrated_database(url, keyring)
        try:
            run(database, url, keyring, args)
        finally:
            database.dispose()


def report(
    clients: int, reference: RunResult, floor: RunResult, logged: RunResult, statements: int
) -> None:
    print(
        f"  {clients} client{'s' if clients > 1 else ' '}: raw INSERT {reference.rate:8.1f}/s "
        f"(ref.) | log_contact {logged.rate:7.1f}/s = {logged.rate / reference.rate:.2f}x | "
        f"log_contact latency p50 {percentile(logged.latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(logged.latencies, 99) * 1000:.1f} ms"
    )
    print(
        f"      statement floor ({statements} bare INSERTs a transaction) {floor.rate:,.1f}/s "
        f"= {floor.rate / reference.rate:.2f}x raw INSERT: the most any contact of "
        f"{statements} statements could reach here; log_contact "
        f"{logged.rate / floor.rate:.2f}x the floor"
    )
    print(f"      active backends by wait (mean), raw INSERT: {describe_waits(reference.waits)}")
    print(f"      active backends by wait (mean), log_contact: {describe_waits(logged.waits)}")
    print(
        f"      client CPU per operation: raw INSERT {reference.cpu_per_op * 1e6:,.0f} us, "
        f"floor {floor.cpu_per_op * 1e6:,.0f} us, log_contact {logged.cpu_per_op * 1e6:,.0f} us "
        f"({logged.cpu_per_op / (clients / logged.rate):.0%} of each client's time per "
        "contact is its own Python)"
    )


def run(database: Database, url: str, keyring: Keyring, args: argparse.Namespace) -> None:
    print(database_line(database.engine))
    counts = [int(c) for c in args.clients.split(",")]
    per_client = WARMUP + args.contacts
    total = per_client * sum(counts) + 2  # and two spare: one on time, one lapsed
    rng = random.Random(args.seed)
    ids = sorted_ids(total, rng)
    dongs = pick_dongs(total, rng)
    order = list(range(total))
    rng.shuffle(order)  # slices spread over the key space and the dongs
    spare = order[total - 2 :]  # never in a slice: one stays on time, one lapses
    others = [i for i in range(total) if i not in spare]
    lapsed = set(rng.sample(others, round((total - 2) * args.lapsed_share))) | {spare[1]}
    on_time, lapsing = ids[spare[0]], ids[spare[1]]
    with database.new_session() as session:
        now = database_now(session)
    with stopwatch() as loading:
        load_residents(database.engine, ids, dongs, rng, now)
        load_enrollments(
            database.engine,
            resident_ids=ids,
            dongs=dongs,
            lapsed=lapsed.__contains__,
            as_of=now,
            rng=rng,
        )
        with database.engine.begin() as conn:
            conn.execute(text(SCRATCH))
        analyze(database.engine)
        tick = run_job(database, Job("followups", run_followups), as_of=now)
    print(
        f"data: {total:,} enrolled residents, {len(lapsed):,} lapsed with an open follow-up "
        f"raised by the tick ({tick.counts.get('raised', 0):,}); loaded in {loading():.1f} s; "
        f"each client takes its own slice of {per_client:,} ({WARMUP} warm-up contacts)"
    )
    slices_of = {}
    cursor = 0
    for clients in counts:
        slices_of[clients] = [
            [ids[order[j]] for j in range(cursor + i * per_client, cursor + (i + 1) * per_client)]
            for i in range(clients)
        ]
        cursor += clients * per_client

    statements = len(sent_by_one_contact(database, on_time))
    print(
        f"runs: {args.seconds:.0f} s or {args.contacts:,} per client, whichever ends first; "
        "each operation is its own transaction; beside the issue's reference (raw single-row "
        f"INSERTs), the statement floor: one transaction of {statements} bare INSERTs, as many "
        "statements as a contact on time sends"
    )
    rows = []
    for clients in counts:
        common = {"url": url, "keyring": keyring, "slices": slices_of[clients], "args": args}
        reference = run_clients(database, kind="raw", **common)
        floor = run_clients(database, kind="floor", statements=statements, **common)
        logged = run_clients(database, kind="contacts", **common)
        rows.append((clients, reference, logged))
        report(clients, reference, floor, logged, statements)

    with database.engine.connect() as conn:
        contacts, resolved, audit = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM contacts), "
                "(SELECT count(*) FROM followups WHERE outcome = 'contact_made'), "
                "(SELECT count(*) FROM audit_events WHERE action = 'create')"
            )
        ).one()
    with database.engine.connect() as conn:
        waiting = conn.execute(text("SELECT count(*) FROM audit_events WHERE seq IS NULL")).scalar()
    with stopwatch() as draining, database.transaction() as session:
        drained = link_chains(session)["access_linked"]
    print(
        f"written: {contacts:,} contacts, {resolved:,} lapse follow-ups resolved by them, "
        f"{audit:,} access records appended; linked by the job while clients ran: "
        f"{audit - (waiting or 0):,}; the last {drained:,} linked in one run in "
        f"{draining():.2f} s" + (f" = {drained / draining():,.0f}/s" if drained else "")
    )
    print(statements_of_one_contact(database, lapsing))
    if args.backlog:
        print(link_backlog(database, args.backlog, rows[-1][1].rate))
    if len(rows) > 1:
        (c1, ref1, log1), (cn, refn, logn) = rows[0], rows[-1]
        print(
            f"scaling {c1} -> {cn} clients: raw INSERT {refn.rate / ref1.rate:.2f}x, "
            f"log_contact {logn.rate / log1.rate:.2f}x"
        )


if __name__ == "__main__":
    main()
