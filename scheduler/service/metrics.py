"""Prometheus metrics of one Coachpass process (`/metrics` of `coachpass serve`).

A leaf module: anything may record here without importing the service. The counters
live in one registry of our own, so tests and a second runtime in one process never
clash with the default registry's process collectors.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from connectors.base import PROVIDER_OBSERVERS

REGISTRY = CollectorRegistry(auto_describe=True)

JOB_RUNS = Counter(
    "coachpass_job_runs",
    "Job runs by outcome: done, failed, skipped (done already, running elsewhere or "
    "nothing to do), stepped_down (leadership lost before a side effect).",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_FAILURES = Counter(
    "coachpass_job_failures",
    "Job runs that failed (retried by the next catch-up).",
    ["job"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "coachpass_job_duration_seconds",
    "Wall time of job runs that did work.",
    ["job"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
IS_LEADER = Gauge(
    "coachpass_leader",
    "1 while this instance leads (runs the jobs), 0 while it stands by.",
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "coachpass_database_up",
    "1 when the last attempt to reach the store's database succeeded.",
    registry=REGISTRY,
)
PROVIDER_CALLS = Counter(
    "coachpass_provider_calls",
    "Connector calls (one batch each: busy, create, update, changes, send) by outcome.",
    ["provider", "operation", "outcome"],
    registry=REGISTRY,
)
PROVIDER_REQUESTS = Counter(
    "coachpass_provider_requests",
    "HTTP requests sent to a calendar or mail provider (connectors that report them).",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_RETRIES = Counter(
    "coachpass_provider_retries",
    "Requests retried after a throttle, a server error or a lost connection.",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_THROTTLED = Counter(
    "coachpass_provider_throttled",
    "Answers that asked us to slow down (HTTP 429, Google's 403 rate limits).",
    ["provider"],
    registry=REGISTRY,
)
PLANNER_SECONDS = Histogram(
    "coachpass_planner_seconds",
    "Time to plan one month of one organisation (all teams).",
    buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
PLANNER_TEAMS = Counter(
    "coachpass_planner_teams",
    "Teams planned, by whether the plan was proven optimal (false: cut by the time limit).",
    ["optimal"],
    registry=REGISTRY,
)


def provider_event(provider: str, event: str) -> None:
    """The observer `connectors.base.observe_provider` calls: request, retry, throttled."""
    counter = {
        "request": PROVIDER_REQUESTS,
        "retry": PROVIDER_RETRIES,
        "throttled": PROVIDER_THROTTLED,
    }.get(event)
    if counter is not None:
        counter.labels(provider).inc()


# Connectors report their HTTP traffic through `connectors.base.observe_provider`
# (they never import scheduler); listen from the moment metrics exist.
if provider_event not in PROVIDER_OBSERVERS:
    PROVIDER_OBSERVERS.append(provider_event)


def observe_plans(seconds: float, optimal: list[bool]) -> None:
    PLANNER_SECONDS.observe(seconds)
    for proven in optimal:
        PLANNER_TEAMS.labels("true" if proven else "false").inc()
