"""Master-key rotation under load (issue 16, item 2): two gunicorn web nodes and a scheduler node
on a throw-away PostgreSQL serve a mixed workload while `welfare keys rotate`, `rewrap` and
`retire` run; no node is restarted. Prints the requests by kind (expected: no failures), when
each node's processes picked up the new keyring, and where the data keys ended.

    .venv/bin/python bench/faults/rotation_under_load.py [--seconds 60] [--clients 6] [--keep]

Exit status 1 when a request failed or a node did not pick the keyring up. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import (
    Client,
    Cluster,
    Ledger,
    cluster,
    create_counselors,
    print_json,
    summarize,
)

FAILURES = ("503", "500", "timeout", "connection")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="workload duration")
    parser.add_argument("--clients", type=int, default=6, help="client threads, split over nodes")
    parser.add_argument("--keep", action="store_true", help="keep the folder with logs and data")
    args = parser.parse_args()
    with cluster(keep=args.keep) as c:
        print(f"cluster in {c.folder} (PostgreSQL on port {c.postgres.port})")
        return run(c, args.seconds, args.clients)


def run(c: Cluster, seconds: int, clients: int) -> int:
    c.env["WELFARE_LOG_LEVEL"] = "INFO"  # the nodes log "keyring picked up"
    web = [c.add_web(), c.add_web()]
    for node in web:
        node.wait_ready()
    c.add_scheduler()
    names = create_counselors(c, clients)
    ledger = Ledger()
    stop = threading.Event()
    threads = [Client(n, web[n % 2], name, ledger, stop, seed=n) for n, name in enumerate(names)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds / 4)

    old = json.loads(c.folder.joinpath("keyring.json").read_text())["master_keys"][-1]["id"]
    rotation_began = time.monotonic()
    c.welfare("keys", "rotate")
    writes = [c.folder.joinpath("keyring.json").stat().st_mtime]
    print(f"t={rotation_began - began:5.1f}s welfare keys rotate ({old} -> decrypt-only)")
    attempts = 0
    while True:  # a node that had not picked the key up yet may have wrapped under the old one
        attempts += 1
        c.welfare("keys", "rewrap")
        if "retired" in c.welfare("keys", "retire", old, check=False) or attempts == 5:
            writes.append(c.folder.joinpath("keyring.json").stat().st_mtime)
            break
        time.sleep(1)
    rotation_took = time.monotonic() - rotation_began
    print(
        f"t={time.monotonic() - began:5.1f}s rewrap + retire done in {rotation_took:.1f}s "
        f"({attempts} round{'s' if attempts > 1 else ''})"
    )
    time.sleep(max(0.0, began + seconds - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join(60)

    during = [o for o in ledger.outcomes if o.at >= rotation_began]
    print_json("requests", summarize(ledger.outcomes))
    print_json("requests from the rotation on", summarize(during))
    pickups = {node.name: pickup_delays(node.log, writes) for node in web}
    for name, delays in pickups.items():
        print_json(
            f"{name} keyring pickups (one per worker process and change)",
            {
                "count": len(delays),
                "seconds_after_the_file_changed": [round(d, 2) for d in delays],
                "reference_check_interval_seconds": 1.0,
            },
        )
    print(c.welfare("keys", "status").strip())
    failed = [o for o in ledger.outcomes if o.kind in FAILURES]
    print(f"check no failed request: {'PASS' if not failed else 'FAIL'} ({len(failed)} failed)")
    # Each gunicorn worker picks up on its own: rotate, then retire, so at least 2 per node.
    picked = all(len(delays) >= 2 for delays in pickups.values())
    print(f"check every web node picked up the keyring: {'PASS' if picked else 'FAIL'}")
    retired = "retired" in c.welfare("keys", "status")
    print(f"check the old key retired: {'PASS' if retired else 'FAIL'}")
    return 0 if not failed and picked and retired else 1


def pickup_delays(log: Path, writes: list[float]) -> list[float]:
    """Seconds from the keyring file's last change before each pickup to the pickup."""
    delays = []
    for line in log.read_text(errors="replace").splitlines():
        if '"keyring picked up"' not in line:
            continue
        try:
            at = datetime.strptime(json.loads(line)["at"], "%Y-%m-%d %H:%M:%S,%f")  # noqa: DTZ007 - the log's own local time
        except (ValueError, KeyError):
            continue
        picked = at.timestamp()
        changed = max((w for w in writes if w <= picked + 0.01), default=None)
        if changed is not None:
            delays.append(picked - changed)
    return sorted(delays)


if __name__ == "__main__":
    sys.exit(main())
