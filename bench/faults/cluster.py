"""A throw-away cluster for the fault runs: its own PostgreSQL, web nodes, scheduler nodes, and a
threaded client that drives a mixed workload and remembers every write it saw acknowledged.

Nothing here touches anything it did not start: PostgreSQL is a fresh `initdb` in a temporary
directory on a free port (started with pg_ctl from /usr/lib/postgresql/*/bin, as the `postgres`
account when run as root), the nodes are child processes, and everything is stopped and removed
at the end. Used by `fault_run.py` and `rotation_under_load.py` (bench/README.md).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
GASAN = "1154551000"
PASSWORD = "fault-run password 0123456789"  # noqa: S105 - throw-away accounts
REQUEST_TIMEOUT = 20.0  # seconds; a request taking longer counts as hung


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not versions:
        raise SystemExit(f"{name} not found under /usr/lib/postgresql/*/bin")
    return str(versions[-1])


class ThrowawayPostgres:
    """initdb + pg_ctl in a temporary directory, on a free port, trust auth on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "pgdata"
        self.socket_dir = folder / "pgsocket"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses root

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603

    def init(self) -> None:
        self.socket_dir.mkdir(parents=True)
        self.data.mkdir()
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")
            for path in (self.data, self.socket_dir):
                shutil.chown(path, "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres")
        self._run(
            pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self.start()
        self._run(
            pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "welfare"
        )

    def _ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200"
        )
        self._run(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            action,
            *extra,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> float:
        """Restart (fast shutdown: open connections are cut); returns the seconds it took."""
        started = time.monotonic()
        self._ctl("restart", "-m", "fast")
        return time.monotonic() - started

    def stop(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-m", "immediate")

    def url(self, application_name: str | None = None) -> str:
        url = f"postgresql://postgres@127.0.0.1:{self.port}/welfare"
        return f"{url}?application_name={application_name}" if application_name else url


@dataclass
class Node:
    """A child process: a gunicorn web node or a `welfare scheduler run` node."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own commands
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL the node (its whole process group)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes: the master's children."""
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not start; see {self.log}")


@dataclass
class Cluster:
    folder: Path
    postgres: ThrowawayPostgres
    env: dict[str, str]
    web: list[Node] = field(default_factory=list)
    schedulers: list[Node] = field(default_factory=list)

    def welfare(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(  # noqa: S603 - our own command
            [str(VENV_BIN / "welfare"), *args],
            env=self.env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise SystemExit(f"welfare {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout + result.stderr

    def add_web(self, workers: int = 2, threads: int = 4) -> Node:
        n = len(self.web) + 1
        port = free_port()
        env = self.env | {
            "WELFARE_BIND": f"127.0.0.1:{port}",
            "WELFARE_WEB_WORKERS": str(workers),
            "WELFARE_WEB_THREADS": str(threads),
            "WELFARE_DATABASE_URL": self.postgres.url(f"web-{n}"),
        }
        node = Node(
            f"web-{n}",
            [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.py", "wsgi:app"],
            env,
            self.folder / f"web-{n}.log",
            port,
        )
        self.web.append(node)
        node.start()
        return node

    def add_scheduler(self) -> Node:
        n = len(self.schedulers) + 1
        env = self.env | {"WELFARE_DATABASE_URL": self.postgres.url(f"scheduler-{n}")}
        node = Node(
            f"scheduler-{n}",
            [str(VENV_BIN / "welfare"), "scheduler", "run"],
            env,
            self.folder / f"scheduler-{n}.log",
        )
        self.schedulers.append(node)
        node.start()
        return node

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Read-only SQL through psql (the bench keeps no connection of its own open)."""
        result = subprocess.run(  # noqa: S603
            [
                pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.postgres.port),
                "-U",
                "postgres",
                "-d",
                "welfare",
                "-At",
                "-F",
                "\t",
                "-c",
                query,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return [tuple(line.split("\t")) for line in result.stdout.splitlines() if line]


@contextmanager
def cluster(*, keep: bool = False) -> Iterator[Cluster]:
    """A migrated throw-away PostgreSQL with a keyring, a checkpoint directory, an erasure ledger
    and `clients` counselor accounts; nodes are added by the caller. Removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="welfare-faults-"))
    postgres = ThrowawayPostgres(folder)
    nodes: list[Node] = []
    try:
        postgres.init()
        (folder / "checkpoints").mkdir()
        env = dict(os.environ) | {
            "WELFARE_ENV": "development",
            "WELFARE_DATA_DIR": str(folder / "data"),
            "WELFARE_DATABASE_URL": postgres.url(),
            "WELFARE_KEYRING_FILE": str(folder / "keyring.json"),
            "WELFARE_SECRET_KEY": "fault-run-secret-key-0123456789abcdef",
            "WELFARE_AUDIT_CHECKPOINT_DIR": str(folder / "checkpoints"),
            "WELFARE_AUDIT_CHECKPOINT_SECONDS": "20",
            "WELFARE_LOG_LEVEL": "WARNING",
            "WELFARE_RATELIMIT_STORAGE_URL": "memory://",
        }
        env.pop("WELFARE_TEST_DATABASE_URL", None)
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-c",
                "from pathlib import Path; from welfare.crypto.keyring import "
                "Keyring, save_keyring; save_keyring(Keyring.generate(for_development=False), "
                f"Path({str(folder / 'keyring.json')!r}))",
            ],
            check=True,
            cwd=ROOT,
        )
        c = Cluster(folder, postgres, env)
        c.welfare("db", "upgrade")
        yield c
        nodes = c.web + c.schedulers
    finally:
        for node in nodes:
            node.stop()
        postgres.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The workload


@dataclass
class Outcome:
    at: float  # time.monotonic()
    node: str
    op: str
    kind: str  # "ok", "4xx", "503", "500", "timeout", "connection"
    status: int | None
    seconds: float
    retry_after: bool = False


@dataclass
class Ledger:
    """What the clients saw acknowledged, to check against the database afterwards."""

    residents: dict[str, str] = field(default_factory=dict)  # id -> rrn
    contacts: dict[str, str] = field(default_factory=dict)  # client_ref -> contact id
    enrollments: set[str] = field(default_factory=set)  # resident ids
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def with_check_digit(first12: str) -> str:
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    total = sum(int(d) * w for d, w in zip(first12, weights, strict=True))
    return f"{first12[:6]}-{first12[6:]}{(11 - total % 11) % 10}"


class Client(threading.Thread):
    """One staff member's browser: logs in, then registers, enrolls, logs contacts and reads,
    retrying an unanswered write with the same body (and client_ref) until it is answered."""

    def __init__(  # noqa: PLR0917 - a thread's whole configuration
        self, n: int, node: Node, username: str, ledger: Ledger, stop: threading.Event, seed: int
    ) -> None:
        super().__init__(name=f"client-{n}", daemon=True)
        self.n = n
        self.node = node
        self.username = username
        self.ledger = ledger
        self.stop_event = stop
        self.random = random.Random(seed)
        self.http = requests.Session()
        self.mine: list[str] = []
        self.serial = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.node.port}"

    def call(self, op: str, method: str, path: str, body: Any = None) -> requests.Response | None:
        started = time.monotonic()
        status: int | None = None
        retry_after = False
        try:
            response = self.http.request(
                method, self.base + path, json=body, timeout=REQUEST_TIMEOUT
            )
            status = response.status_code
            retry_after = "Retry-After" in response.headers
            kind = (
                "ok"
                if status < 400
                else "503"
                if status == 503
                else "500"
                if status >= 500
                else "4xx"
            )
        except requests.Timeout:
            response, kind = None, "timeout"
        except requests.ConnectionError:
            response, kind = None, "connection"
        self.ledger.note(
            Outcome(
                started, self.node.name, op, kind, status, time.monotonic() - started, retry_after
            )
        )
        return response

    def login(self) -> None:
        while not self.stop_event.is_set():
            response = self.call(
                "login",
                "POST",
                "/api/v1/auth/login",
                {"username": self.username, "password": PASSWORD},
            )
            if response is not None and response.ok:
                self.http.headers["X-CSRF-Token"] = response.json()["csrf_token"]
                return
            time.sleep(1)

    def until_answered(
        self, op: str, method: str, path: str, body: Any
    ) -> requests.Response | None:
        """Send a write until the server answers it (not 503, not a lost connection)."""
        for _ in range(60):
            response = self.call(op, method, path, body)
            if response is not None and response.status_code == 401:
                self.login()
                continue
            if response is not None and response.status_code != 503:
                return response
            if self.stop_event.is_set() and response is None:
                time.sleep(0.5)
            time.sleep(0.5)
        return None

    def register(self) -> None:
        self.serial += 1
        s = self.serial
        born = f"{30 + s // 336 % 60:02d}{s // 28 % 12 + 1:02d}{s % 28 + 1:02d}"
        rrn = with_check_digit(f"{born}{1 + self.n % 2}{self.n % 100:02d}{s % 1000:03d}")
        body = {"name": f"부하{self.n}가{self.serial}", "rrn": rrn, "dong": GASAN}
        response = self.until_answered("register", "POST", "/api/v1/residents", body)
        if response is not None and response.status_code == 201:
            rid = response.json()["id"]
            with self.ledger.lock:
                self.ledger.residents[rid] = rrn
            self.mine.append(rid)
            # Lapsed at once: enrolled 25 hours ago at high risk (a 24-hour interval).
            enrolled_at = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
            enrolled = self.until_answered(
                "enroll",
                "POST",
                "/api/v1/ongi/enrollments",
                {"resident_id": rid, "risk_level": "high", "enrolled_at": enrolled_at},
            )
            if enrolled is not None and enrolled.status_code in (201, 409):
                with self.ledger.lock:
                    self.ledger.enrollments.add(rid)

    def contact(self) -> None:
        rid = self.random.choice(self.mine)
        ref = f"fault-{uuid.uuid4().hex}"
        body = {
            "resident_id": rid,
            "channel": "phone",
            "outcome": self.random.choice(["reached", "no_answer", "no_answer"]),
            "occurred_at": datetime.now(UTC).isoformat(),
            "client_ref": ref,
        }
        response = self.until_answered("contact", "POST", "/api/v1/contacts", body)
        if response is not None and response.status_code in (200, 201):
            with self.ledger.lock:
                self.ledger.contacts[ref] = response.json()["id"]

    def read(self) -> None:
        choice = self.random.random()
        if choice < 0.4 and self.mine:
            self.call("read", "GET", f"/api/v1/residents/{self.random.choice(self.mine)}")
        elif choice < 0.7:
            self.call("list", "GET", "/api/v1/residents?limit=20")
        else:
            self.call("queue", "GET", "/api/v1/followups?limit=20")

    def run(self) -> None:
        self.login()
        while not self.stop_event.is_set():
            roll = self.random.random()
            if roll < 0.15 or not self.mine:
                self.register()
            elif roll < 0.4:
                self.contact()
            else:
                self.read()


def create_counselors(c: Cluster, count: int) -> list[str]:
    names = [f"fault{n}" for n in range(count)]
    for name in names:
        c.welfare(
            "staff",
            "create",
            name,
            "--role",
            "counselor",
            "--dong",
            GASAN,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    return names


# ---------------------------------------------------------------------------------------------
# Figures


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    kinds = Counter(o.kind for o in outcomes)
    unavailable = [o for o in outcomes if o.kind == "503"]
    return {
        "requests": len(outcomes),
        "by_kind": dict(sorted(kinds.items())),
        "503_with_retry_after": sum(o.retry_after for o in unavailable),
        "slowest_seconds": round(max((o.seconds for o in outcomes), default=0.0), 2),
    }


def recovery_seconds(window: list[Outcome], fault_at: float, node: str | None = None) -> float:
    """Seconds from the fault until the end of the last failed request of its window (of `node`
    only, when given): 0 when nothing failed."""
    ends = [
        o.at + o.seconds
        for o in window
        if o.kind in ("503", "500", "timeout", "connection") and (node is None or o.node == node)
    ]
    return round(max(ends) - fault_at, 2) if ends else 0.0


def print_json(title: str, data: Any) -> None:
    print(f"{title}: {json.dumps(data, ensure_ascii=False, default=str)}")
