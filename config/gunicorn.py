"""gunicorn settings for scaled deployment: `gunicorn -c config/gunicorn.py wsgi:app`."""

import os
from typing import Any

from prometheus_client import multiprocess

bind = os.environ.get("WELFARE_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WELFARE_WEB_WORKERS", "2"))
threads = int(os.environ.get("WELFARE_WEB_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
# Access lines come from the app's own JSON request log, which never includes query strings.
accesslog = None
forwarded_allow_ips = os.environ.get("WELFARE_FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190


def child_exit(_server: Any, worker: Any) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, `/metrics` sums every worker of this node; a dead
    worker's live gauges are dropped (welfare/metrics.py, docs/operations.md "Metrics")."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
