"""HTTP load: the scaled deployment under a mixed staff + gateway workload, with locust.

One command (from the repository root, PostgreSQL on --pg-url):

    .venv/bin/python bench/load/run.py                 # 32 users, 60 s
    .venv/bin/python bench/load/run.py --users 8 --seconds 20

It builds a throw-away PostgreSQL database, migrates it and seeds the fictional demo district
(services/demo), issues API tokens for its counselors and outreach workers and for one gateway
per staffed dong (with signal sources for the dong's enrolled residents), runs the follow-up
tick so the queue has work, then starts the deployment as docs/operations.md describes it:
`gunicorn -c config/gunicorn.py wsgi:app` (WELFARE_ENV=production) and one `welfare scheduler
run` node. locust (bench/load/locustfile.py) runs headless against it; the report prints, per
endpoint, requests per second, p50/p95/p99 and errors, beside `GET /api/v1/auth/me` (the bare
authenticated JSON endpoint of the same app, in the same run) as the reference. Everything is
removed at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ for benchkit

from argon2 import PasswordHasher
from benchkit import (
    backend_arguments,
    backends,
    machine_line,
    migrated_database,
    throwaway_database,
)
from sqlalchemy import select

from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import signals, tokens
from services import staff as staff_service
from services.audit import start_chains
from services.demo.seed import STAFFED_DONGS, seed_demo_district
from welfare.crypto.keyring import Keyring, save_keyring
from welfare.database import Database, database_now
from welfare.models import Actor, OngiEnrollment, Role, Staff

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REFERENCE = "reference: GET /api/v1/auth/me"
SIGNAL_KINDS = ("sensor_activity", "ai_call_answered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=32, help="simulated users (default 32)")
    parser.add_argument("--seconds", type=int, default=60, help="run time (default 60)")
    parser.add_argument("--spawn-rate", type=float, default=16.0, help="users started per second")
    parser.add_argument("--residents", type=int, default=300, help="demo residents to seed")
    parser.add_argument("--workers", default=os.environ.get("WELFARE_WEB_WORKERS", "2"))
    parser.add_argument("--threads", default=os.environ.get("WELFARE_WEB_THREADS", "4"))
    backend_arguments(parser, sqlite=False)
    args = parser.parse_args()
    print(machine_line())
    if not backends("postgresql", args.pg_url):
        return
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_database("postgresql", "load", args.pg_url))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="welfare-load-")))
        keyring = Keyring.generate(for_development=False)
        save_keyring(keyring, folder / "keyring.json")
        database = migrated_database(url, keyring)
        try:
            fixture = prepare(database, args)
        finally:
            database.dispose()
        (folder / "fixture.json").write_text(json.dumps(fixture), encoding="utf-8")
        (folder / "checkpoints").mkdir()
        port = free_port()
        env = {
            **os.environ,
            "WELFARE_ENV": "production",
            "WELFARE_DATABASE_URL": url,
            "WELFARE_KEYRING_FILE": str(folder / "keyring.json"),
            "WELFARE_SECRET_KEY": secrets.token_urlsafe(48),
            "WELFARE_AUDIT_CHECKPOINT_DIR": str(folder / "checkpoints"),
            "WELFARE_DATA_DIR": str(folder),
            "WELFARE_BIND": f"127.0.0.1:{port}",
            "WELFARE_WEB_WORKERS": str(args.workers),
            "WELFARE_WEB_THREADS": str(args.threads),
            "WELFARE_LOG_LEVEL": "WARNING",
            "WELFARE_LOAD_FIXTURE": str(folder / "fixture.json"),
        }
        web = start(stack, [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "wsgi:app"], env)
        start(stack, [str(BIN / "welfare"), "scheduler", "run"], env)
        host = f"http://127.0.0.1:{port}"
        wait_ready(host, web)
        print(
            f"deployment: gunicorn -c config/gunicorn.py wsgi:app ({args.workers} workers x "
            f"{args.threads} threads, WELFARE_ENV=production) + welfare scheduler run, "
            f"PostgreSQL; {fixture['summary']}"
        )
        prefix = folder / "locust"
        ran = subprocess.run(  # noqa: S603 - our own locust, our own arguments
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "load" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{args.seconds}s",
                "--host",
                host,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
        )
        if not (prefix.parent / f"{prefix.name}_stats.csv").exists():
            raise SystemExit(f"locust failed (exit {ran.returncode}):\n{ran.stderr[-2000:]}")
        report(prefix, args)


def prepare(database: Database, args: argparse.Namespace) -> dict[str, Any]:
    """Seed the demo district; tokens for its staff and one gateway per staffed dong."""
    hasher = PasswordHasher()
    staff_tokens: list[dict[str, str]] = []
    gateways: list[dict[str, Any]] = []
    with database.transaction() as session:
        start_chains(session)
    with database.new_session() as session:  # the seed commits step by step, as `demo seed`
        seed_demo_district(session, hasher=hasher, residents=args.residents)
    # The use cases commit as they go (each leaves its access record), as in the CLI.
    with database.new_session() as session:
        now = database_now(session)
        people = session.scalars(
            select(Staff).where(Staff.role.in_(("counselor", "outreach")), Staff.is_active)
        ).all()
        for member in people:
            token, _ = tokens.issue_token(
                session,
                actor=None,
                staff_id=member.id,
                label="load test",
                now=now,
                lifetime=timedelta(days=1),
            )
            staff_tokens.append({"token": token, "dong": sorted(member.dongs)[0]})
        for dong, name in STAFFED_DONGS.items():
            gateway = staff_service.create_staff(
                session,
                actor=None,
                username=f"gateway-{name}",
                role="gateway",
                dongs=[dong],
                hasher=hasher,
                now=now,
            )
            token, _ = tokens.issue_token(
                session,
                actor=None,
                staff_id=gateway.id,
                label="load test",
                now=now,
                lifetime=timedelta(days=1),
            )
            counselor = next(m for m in people if m.role == "counselor" and dong in m.dongs)
            actor = Actor(staff_id=counselor.id, role=Role.COUNSELOR, dongs=frozenset([dong]))
            enrolled = session.scalars(
                select(OngiEnrollment.resident_id).where(
                    OngiEnrollment.dong_code == dong, OngiEnrollment.status == "active"
                )
            ).all()
            sources = []
            for n, resident_id in enumerate(enrolled):
                kind = SIGNAL_KINDS[n % len(SIGNAL_KINDS)]
                ref = f"load-{name}-{n}"
                signals.register_source(
                    session,
                    actor=actor,
                    resident_id=resident_id,
                    kind=kind,
                    source_ref=ref,
                    now=now,
                )
                sources.append({"kind": kind, "source_ref": ref})
            gateways.append({"token": token, "dong": dong, "sources": sources})
        session.commit()
    tick = run_job(database, Job("followups", run_followups))
    return {
        "staff": staff_tokens,
        "gateways": gateways,
        "summary": (
            f"demo district of {args.residents} residents, {len(staff_tokens)} staff tokens, "
            f"{len(gateways)} gateways with {sum(len(g['sources']) for g in gateways)} signal "
            f"sources, {tick.counts.get('raised', 0)} follow-ups raised by the tick"
        ),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(stack: ExitStack, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)  # noqa: S603 - our own binaries

    def stop() -> None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    stack.callback(stop)
    return process


def wait_ready(host: str, web: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise SystemExit("gunicorn exited before it was ready")
        health = f"{host}/healthz"
        with suppress(OSError), urllib.request.urlopen(health, timeout=2) as answer:  # noqa: S310 - our own local server
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def report(prefix: Path, args: argparse.Namespace) -> None:
    rows = list(csv.DictReader((prefix.parent / f"{prefix.name}_stats.csv").open()))
    stats = {row["Name"]: row for row in rows if row["Name"] != "Aggregated"}
    total = next(row for row in rows if row["Name"] == "Aggregated")
    reference = stats.get(REFERENCE)
    print(
        f"load: {args.users} users for {args.seconds} s (locust headless); "
        f"{float(total['Requests/s']):.1f} requests/s in all, "
        f"{int(total['Failure Count']):,} errors of {int(total['Request Count']):,}"
    )
    print(
        f"  {'endpoint':<42} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>7}"
        "  p50 vs ref."
    )
    ordered = ([reference] if reference else []) + [
        stats[name] for name in sorted(stats) if name != REFERENCE
    ]
    for row in ordered:
        ratio = ""
        if reference and row is not reference and float(row["50%"]) > 0:
            ratio = f"ref./this = {float(reference['50%']) / float(row['50%']):.2f}x"
        elif row is reference:
            ratio = "(ref.)"
        print(
            f"  {row['Name']:<42} {float(row['Requests/s']):7.1f} {ms(row['50%']):>6} "
            f"{ms(row['95%']):>6} {ms(row['99%']):>6} {int(row['Failure Count']):7,}  {ratio}"
        )
    failures = prefix.parent / f"{prefix.name}_failures.csv"
    if failures.exists():
        for row in list(csv.DictReader(failures.open()))[:10]:
            print(
                f"  error: {row['Method']} {row['Name']}: {row['Error'][:120]} "
                f"x{row['Occurrences']}"
            )


def ms(value: str) -> str:
    return f"{float(value):.0f}ms" if value not in ("", "N/A") else "-"


if __name__ == "__main__":
    main()
