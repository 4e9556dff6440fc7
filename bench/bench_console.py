"""The console's home page with 50 queue rows, rendered on the server, beside the API call that
reads the same 50 follow-ups (GET /api/v1/followups?limit=50), in the same run.

Both go through the whole app (Flask test client, real session cookie, real database migrated
with the real migrations): the page does what the API call does — the same
`services.followup_queue.list_followups`, its access record — plus the team directory for the
assign menus, the dong names and the HTML. Goal: the page's median ≤ 2 × the API call's median.
The two are measured interleaved, in blocks, so load on the machine skews neither.

    .venv/bin/python bench/bench_console.py                    # SQLite and PostgreSQL
    .venv/bin/python bench/bench_console.py --backend sqlite --rounds 100
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from benchkit import (
    backend_arguments,
    backends,
    database_line,
    machine_line,
    percentile,
    stopwatch,
    throwaway_database,
    verdict,
)
from sqlalchemy.orm import Session

from config import Settings
from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import ongi, residents
from services import staff as staff_service
from services.audit import start_chains
from welfare.app import create_app
from welfare.crypto.keyring import Keyring
from welfare.crypto.passwords import make_hasher
from welfare.database import KEYRING_INFO, make_engine
from welfare.migrate import upgrade
from welfare.web import get_database

GASAN = "1154551000"
ROWS = 50
GOAL_RATIO = 2.0
PASSWORD = "bench console passphrase 1234"  # noqa: S105 - a throw-away bench account
NAMES = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임")


def require(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"bench_console: {what}")


def measure(backend: str, pg_url: str, rounds: int) -> bool:
    keyring = Keyring.generate(for_development=False)
    with TemporaryDirectory() as folder, throwaway_database(backend, "console", pg_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        with Session(bind=engine, info={KEYRING_INFO: keyring}) as s, s.begin():
            start_chains(s)
        print(database_line(engine))
        engine.dispose()
        data = Path(folder)
        settings = Settings(
            env="test",
            data_dir=data,
            database_url=url,
            keyring_file=data / "keyring.json",
            keyring_file_is_default=False,
            secret_key="bench-secret-key-that-is-long-enough-0123456789",  # noqa: S106
            argon2_profile="fast",
            log_level="WARNING",
        )
        app = create_app(
            replace(settings, audit_checkpoint_file=data / "c.jsonl", erasure_ledger=data / "e"),
            keyring=keyring,
        )
        database = get_database(app)
        now = datetime.now(UTC)
        with database.new_session() as session:
            member = staff_service.create_staff(
                session,
                actor=None,
                username="bench.counselor",
                role="counselor",
                dongs=[GASAN],
                display_name="벤치 상담사",
                password=PASSWORD,
                hasher=make_hasher("fast"),
                now=now,
            )
            actor = member.actor()
            for n in range(ROWS + 10):
                enrolled = now - timedelta(hours=26 + n)
                view = residents.register_resident(
                    session,
                    actor=actor,
                    name=f"{NAMES[n % 10]}벤치{n}",
                    rrn=f"{40 + n % 50:02d}{n % 12 + 1:02d}{n % 28 + 1:02d}-2{n:06d}",
                    rrn_reissued=True,  # fictional numbers: no check digit to hold
                    phone=f"010-5{n:03d}-{1000 + n}",
                    dong=GASAN,
                    now=enrolled,
                )
                ongi.enroll(
                    session,
                    actor=actor,
                    resident_id=view.id,
                    risk_level="high",
                    now=enrolled,
                    enrolled_at=enrolled,
                )
        require(
            run_job(database, Job("followups", run_followups), as_of=now).status == "succeeded",
            "run_job(database, Job('followups', run_followups), as_of=now).status == 'succeeded'",
        )
        client = app.test_client()
        login = client.post(
            "/api/v1/auth/login", json={"username": "bench.counselor", "password": PASSWORD}
        )
        require(login.status_code == 200, "login.status_code == 200")
        api_rows = client.get("/api/v1/followups", query_string={"limit": ROWS}).get_json()
        require(len(api_rows["items"]) == ROWS, "len(api_rows['items']) == ROWS")
        page = client.get("/").get_data(as_text=True)
        require(page.count('class="item') == ROWS, "the page must show 50 rows")

        api_times: list[float] = []
        page_times: list[float] = []
        for block in range(rounds // 10):
            order = ("api", "page") if block % 2 == 0 else ("page", "api")
            for _ in range(10):
                for which in order:
                    with stopwatch() as elapsed:
                        if which == "api":
                            response = client.get("/api/v1/followups", query_string={"limit": ROWS})
                        else:
                            response = client.get("/")
                        response.get_data()
                    require(response.status_code == 200, "response.status_code == 200")
                    (api_times if which == "api" else page_times).append(elapsed() * 1000)
        api_median, page_median = percentile(api_times, 50), percentile(page_times, 50)
        ratio = page_median / api_median
        print(
            f"  reference  GET /api/v1/followups?limit=50   median {api_median:7.1f} ms  "
            f"p90 {percentile(api_times, 90):7.1f} ms  ({len(api_times)} calls)"
        )
        print(
            f"  console    GET / (50 queue rows, HTML)      median {page_median:7.1f} ms  "
            f"p90 {percentile(page_times, 90):7.1f} ms  ({len(page_times)} calls)"
        )
        met = ratio <= GOAL_RATIO
        print(f"  page / API = {ratio:.2f}× (goal ≤ {GOAL_RATIO:.0f}×): {verdict(met)}")
        database.dispose()
        return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    backend_arguments(parser)
    parser.add_argument("--rounds", type=int, default=60, help="calls of each kind (default 60)")
    args = parser.parse_args()
    print(machine_line())
    results = []
    for backend in backends(args.backend, args.pg_url):
        print(f"== {backend}")
        results.append(measure(backend, args.pg_url, max(10, args.rounds)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
