"""The multi-node fault run (issue 16, item 1): one command, its own PostgreSQL, two gunicorn web
nodes, two `welfare scheduler run` nodes, a mixed workload for --seconds, while the run SIGKILLs
one web worker, SIGKILLs one scheduler node in the middle of a tick's transaction, and restarts
PostgreSQL once. Then it checks that every acknowledged write exists exactly once, that no
resident has two live follow-ups of one reason, that every lapse has its follow-up, and that
`welfare audit verify` passes; it prints the requests by kind and the recovery after each fault.

    .venv/bin/python bench/faults/fault_run.py [--seconds 150] [--clients 8] [--keep]

Exit status 1 when a check fails. See bench/README.md ("Faults") and docs/operations.md
("Bad days").
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import (
    Client,
    Cluster,
    Ledger,
    cluster,
    create_counselors,
    print_json,
    recovery_seconds,
    summarize,
)

FAILURES = ("503", "500", "timeout", "connection")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=150, help="workload duration (>= 120)")
    parser.add_argument("--clients", type=int, default=8, help="client threads, split over nodes")
    parser.add_argument("--keep", action="store_true", help="keep the folder with logs and data")
    args = parser.parse_args()
    with cluster(keep=args.keep) as c:
        print(f"cluster in {c.folder} (PostgreSQL on port {c.postgres.port})")
        return run(c, args.seconds, args.clients)


def run(c: Cluster, seconds: int, clients: int) -> int:
    web = [c.add_web(), c.add_web()]
    for node in web:
        node.wait_ready()
    c.add_scheduler()
    c.add_scheduler()
    names = create_counselors(c, clients)
    ledger = Ledger()
    stop = threading.Event()
    threads = [Client(n, web[n % 2], name, ledger, stop, seed=n) for n, name in enumerate(names)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    faults: dict[str, Any] = {}

    def at(offset: float) -> None:
        time.sleep(max(0.0, began + offset - time.monotonic()))

    at(seconds * 0.17)
    victim = web[0].worker_pids()[0]
    faults["web_worker_killed"] = {"at": time.monotonic(), "node": web[0].name, "pid": victim}
    os.kill(victim, signal.SIGKILL)
    print(f"t={time.monotonic() - began:5.1f}s SIGKILL web worker {victim} of {web[0].name}")

    at(seconds * 0.3)
    faults["scheduler_killed"] = kill_scheduler_mid_tick(c, began)
    c.add_scheduler()  # a replacement, so two scheduler nodes run again

    at(seconds * 0.6)
    fault_at = time.monotonic()
    took = c.postgres.restart()
    faults["postgres_restarted"] = {"at": fault_at, "restart_seconds": round(took, 2)}
    print(f"t={fault_at - began:5.1f}s PostgreSQL restarted (pg_ctl restart -m fast, {took:.1f}s)")

    at(seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    stopped = time.monotonic()
    print(f"t={stopped - began:5.1f}s workload stopped")
    return report(c, ledger, faults, began, stopped)


def kill_scheduler_mid_tick(c: Cluster, began: float) -> dict[str, Any]:
    """SIGKILL scheduler-1 while its connection is inside a transaction (a job's run)."""
    node = c.schedulers[0]
    caught = False
    deadline = time.monotonic() + 90
    with psycopg.connect(c.postgres.url(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND xact_start IS NOT NULL",
                (node.name,),
            ).fetchone()
            if row and row[0]:
                caught = True
                break
            time.sleep(0.005)
    at = time.monotonic()
    node.kill()
    print(
        f"t={at - began:5.1f}s SIGKILL {node.name} "
        f"({'inside a transaction' if caught else 'NOT caught inside a transaction'})"
    )
    return {"at": at, "node": node.name, "mid_transaction": caught}


def report(c: Cluster, ledger: Ledger, faults: dict[str, Any], began: float, stopped: float) -> int:
    outcomes = ledger.outcomes
    print_json("requests", summarize(outcomes))
    starts = sorted(fault["at"] for fault in faults.values())
    for name, fault in faults.items():
        # Each fault's window: 30 seconds, or up to the next fault or the end of the workload.
        end = min([fault["at"] + 30, stopped, *(t for t in starts if t > fault["at"])])
        # Requests that ended in the window, so one cut off by the fault counts with it.
        window = [o for o in outcomes if fault["at"] <= o.at + o.seconds < end]
        errors = {k: sum(o.kind == k for o in window) for k in FAILURES}
        node = fault.get("node") if name == "web_worker_killed" else None
        print_json(
            name,
            {k: v for k, v in fault.items() if k != "at"}
            | {
                "t": round(fault["at"] - began, 1),
                "window_seconds": round(end - fault["at"], 1),
                "requests_in_window": len(window),
                "errors_in_window": errors,
                "recovery_seconds": recovery_seconds(window, fault["at"], node),
            },
        )
    checks = check(c, ledger)
    for name, (ok, detail) in checks.items():
        print(f"check {name}: {'PASS' if ok else 'FAIL'} ({detail})")
    hung = [o for o in outcomes if o.kind == "timeout"]
    five_hundreds = [o for o in outcomes if o.kind == "500"]
    no_retry_after = [o for o in outcomes if o.kind == "503" and not o.retry_after]
    for name, bad in (
        ("no 500 answers", five_hundreds),
        ("no request hung past the client timeout", hung),
        ("every 503 carried Retry-After", no_retry_after),
    ):
        print(f"check {name}: {'PASS' if not bad else 'FAIL'} ({len(bad)} seen)")
    failed = any(not ok for ok, _ in checks.values()) or hung or five_hundreds or no_retry_after
    outside = [
        o
        for o in outcomes
        if o.kind in FAILURES
        and not any(f["at"] <= o.at + o.seconds < f["at"] + 30 for f in faults.values())
    ]
    print(f"failed requests outside every fault's window: {len(outside)}")
    return 1 if failed else 0


def check(c: Cluster, ledger: Ledger) -> dict[str, tuple[bool, str]]:
    results: dict[str, tuple[bool, str]] = {}
    with psycopg.connect(c.postgres.url(), autocommit=True) as conn:
        as_of = wait_for_followups_tick(conn)
        ids = list(ledger.residents)
        found = conn.execute(
            "SELECT count(*) FROM residents WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchone()
        total = conn.execute("SELECT count(*) FROM residents").fetchone()
        results["acknowledged residents exist exactly once"] = (
            found is not None and found[0] == len(ids),
            f"{len(ids)} acknowledged, {found[0] if found else 0} found; "
            f"{(total[0] if total else 0) - len(ids)} more registered whose answer was lost "
            "(their retry got 409, not a second row)",
        )
        refs = list(ledger.contacts)
        rows = conn.execute(
            "SELECT client_ref, count(*), min(id::text) FROM contacts "
            "WHERE client_ref = ANY(%s) GROUP BY client_ref",
            (refs,),
        ).fetchall()
        once = sum(1 for ref, n, cid in rows if n == 1 and ledger.contacts[ref] == cid)
        results["acknowledged contacts exist exactly once"] = (
            once == len(refs),
            f"{len(refs)} acknowledged, {once} found once with the acknowledged id",
        )
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT subject_type, subject_id, reason FROM followups "
            "WHERE state IN ('open', 'escalated') GROUP BY subject_type, subject_id, reason "
            "HAVING count(*) > 1) d"
        ).fetchone()
        live = conn.execute(
            "SELECT count(*) FROM followups WHERE state IN ('open', 'escalated')"
        ).fetchone()
        results["no two live follow-ups of one reason"] = (
            dupes is not None and dupes[0] == 0,
            f"{live[0] if live else 0} live follow-ups, {dupes[0] if dupes else '?'} duplicated",
        )
        missing = conn.execute(
            "SELECT count(*) FROM ongi_enrollments e JOIN residents r ON r.id = e.resident_id "
            "WHERE r.status = 'active' AND e.status = 'active' AND e.next_due_at <= %s "
            "AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.subject_id = e.resident_id "
            "AND f.reason = 'contact_lapsed' AND f.state IN ('open', 'escalated'))",
            (as_of,),
        ).fetchone()
        lapsed = conn.execute(
            "SELECT count(*) FROM ongi_enrollments WHERE status = 'active' AND next_due_at <= %s",
            (as_of,),
        ).fetchone()
        results["every lapse has its follow-up"] = (
            missing is not None and missing[0] == 0,
            f"{lapsed[0] if lapsed else 0} lapsed at the last tick ({as_of:%H:%M:%S}), "
            f"{missing[0] if missing else '?'} without a live follow-up",
        )
    verify = c.welfare("audit", "verify", check=False)
    ok = "BROKEN" not in verify and "verified" in verify
    results["welfare audit verify"] = (ok, " / ".join(verify.strip().splitlines()[-2:]))
    return results


def wait_for_followups_tick(conn: psycopg.Connection[Any]) -> Any:
    """The as_of of the first successful `followups` run that started after the workload
    stopped (the scheduler nodes run it every minute)."""
    row = conn.execute("SELECT now()").fetchone()
    since = row[0] if row else None
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        found = conn.execute(
            "SELECT as_of FROM scheduler_runs WHERE job = 'followups' AND status = 'succeeded' "
            "AND started_at > %s ORDER BY as_of DESC LIMIT 1",
            (since,),
        ).fetchone()
        if found is not None:
            return found[0]
        time.sleep(1)
    raise SystemExit("no followups tick succeeded after the workload stopped")


if __name__ == "__main__":
    sys.exit(main())
