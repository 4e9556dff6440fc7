"""Prometheus metrics of this process (prometheus-client): what operators scrape at `/metrics`.

Labels hold route templates, methods, status codes, job names and count names only: never a
resident, a staff member, a record id or a query string (docs/operations.md, "Metrics").
Under gunicorn each worker is a process: set PROMETHEUS_MULTIPROC_DIR (an empty directory per
node) and `/metrics` sums the workers' values (config/gunicorn.py marks dead workers).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

REGISTRY = CollectorRegistry(auto_describe=True)

# Request latencies: from 5 ms to 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "welfare_http_requests",
    "HTTP requests answered, by method, route template and status",
    ("method", "route", "status"),
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "welfare_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status",
    ("method", "route", "status"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "welfare_scheduler_job_runs",
    "Scheduler job runs in this process, by job and status (succeeded, failed, skipped)",
    ("job", "status"),
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "welfare_scheduler_job_duration_seconds",
    "Duration of a scheduler job run (a tick of that job) in this process, by job and status",
    ("job", "status"),
    buckets=JOB_BUCKETS,
    registry=REGISTRY,
)
JOB_ITEMS = Counter(
    "welfare_scheduler_job_items",
    "What scheduler job runs counted (raised, delivered, linked, ...), by job and count name",
    ("job", "count"),
    registry=REGISTRY,
)

UNMATCHED_ROUTE = "(unmatched)"


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    labels = (method, route or UNMATCHED_ROUTE, str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_LATENCY.labels(*labels).observe(seconds)


def observe_job(job: str, status: str, seconds: float, counts: dict[str, object]) -> None:
    JOB_RUNS.labels(job, status).inc()
    JOB_DURATION.labels(job, status).observe(seconds)
    for name, value in counts.items():
        # Only whole-number counts; a job's counts never name anyone.
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            JOB_ITEMS.labels(job, name).inc(value)


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every worker's of this node in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY
