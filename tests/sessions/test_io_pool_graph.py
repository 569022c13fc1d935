"""Booking on the fake Graph with the I/O pool: no mailbox ever has requests from two
workers in flight (so Graph's four concurrent requests per mailbox, which the `$batch`
lanes keep within one request, hold under the pool), a 429 holds back every worker,
and the pool books what a single thread books.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.outlook.connector import OutlookConnector
from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.sessions import units
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.fakes.graph_client import SECRET_ENV
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph
from tests.orgs import person, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
TEAMS = 8
SELLERS = 3
_USER = re.compile(r"/users/([^/?]+)")


def _ids(t: int) -> list[str]:
    return [f"m{t}"] + [f"m{t}s{s}" for s in range(SELLERS)]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    # One organiser per create call (80 sessions by default): eight calls, so several
    # workers are busy at once in this small organisation.
    monkeypatch.setitem(units.CREATE_UNIT, "outlook", units.UnitShape(SELLERS))
    server = FakeGraph([f"{p}@example.com" for t in range(TEAMS) for p in _ids(t)]).start()
    try:
        yield server
    finally:
        server.stop()


def _runtime(tmp_path: Path, fake: FakeGraph, workers: int) -> Runtime:
    teams = []
    for t in range(TEAMS):
        people = [{**person(p), "calendar": f"{p}@example.com"} for p in _ids(t)]
        teams.append(
            {"id": f"t{t}", "name": f"Team {t}", "manager": people[0], "sellers": people[1:]}
        )
    path = write_org(
        tmp_path,
        extra={
            "defaults": {"connector": "outlook"},
            "teams": teams,
            "connectors": {"outlook": fake.options(workers=workers)},
        },
    )
    rt = Runtime.open(load_settings(path))
    # The fake is reached through its loopback transport, which config cannot name;
    # waits are real (a Retry-After must hold the workers back for real).
    rt._connectors["outlook"] = OutlookConnector(
        fake.options(backoff_seconds=0.01),
        ConnectorContext(base_dir=tmp_path),
        transport=fake.transport(),
    )
    return rt


class InFlight:
    """Wraps the fake's request handler: which mailboxes each request in flight
    touches, and the most requests touching one mailbox at once."""

    def __init__(self, fake: FakeGraph, delay: float) -> None:
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self.delay = delay
        inner = fake.handle

        def handle(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
            boxes = self.mailboxes(raw_path, body)
            with self.lock:
                self.arrivals.append(time.monotonic())
                for box in boxes:
                    self.now[box] += 1
                    self.most[box] = max(self.most[box], self.now[box])
            try:
                time.sleep(self.delay)  # a network's worth of time in flight
                return inner(method, raw_path, headers, body)
            finally:
                with self.lock:
                    for box in boxes:
                        self.now[box] -= 1

        fake.handle = handle  # type: ignore[method-assign]

    @staticmethod
    def mailboxes(raw_path: str, body: bytes) -> set[str]:
        if raw_path.split("?")[0].endswith("/$batch"):
            parts = json.loads(body or b"{}").get("requests", [])
            return {m.lower() for p in parts for m in _USER.findall(p.get("url", ""))}
        return {m.lower() for m in _USER.findall(raw_path)}


def _calendar(fake: FakeGraph) -> list[tuple[str, str, str, str]]:
    """The organisers' events as the fake holds them: mailbox, times, attendees."""
    with fake.lock:
        return sorted(
            (
                e.mailbox,
                e.start.isoformat(),
                e.end.isoformat(),
                ",".join(a["emailAddress"]["address"] for a in e.attendees),
            )
            for e in fake.state.events.values()
            if not e.deleted and e.mailbox.startswith("m") and "s" not in e.mailbox.split("@")[0]
        )


def _sessions(rt: Runtime) -> list[tuple[str, str, str]]:
    return sorted((r.key, r.state.value, str(r.start)) for r in rt.store.sessions())


def test_no_mailbox_has_two_requests_in_flight_and_the_pool_books_as_one_thread(
    tmp_path: Path, fake: FakeGraph
) -> None:
    watch = InFlight(fake, 0.02)
    rt = _runtime(tmp_path / "pool", fake, 16)
    try:
        summary = book_month(rt, MONTH, NOW)
        pooled = _sessions(rt)
    finally:
        rt.close()
    assert summary.created == TEAMS * SELLERS and not summary.failures()
    assert watch.most and max(watch.most.values()) == 1, watch.most
    assert not fake.faults.injected  # the fake throttled nothing
    # The same organisation on fresh calendars, booked by one thread.
    second = FakeGraph([f"{p}@example.com" for t in range(TEAMS) for p in _ids(t)]).start()
    one = _runtime(tmp_path / "one", second, 1)
    try:
        assert book_month(one, MONTH, NOW).created == TEAMS * SELLERS
        assert _sessions(one) == pooled
        assert _calendar(second) == _calendar(fake)
    finally:
        one.close()
        second.stop()


def test_a_429_holds_back_every_worker(tmp_path: Path, fake: FakeGraph) -> None:
    watch = InFlight(fake, 0.1)
    rt = _runtime(tmp_path, fake, 4)
    fake.faults.retry_after = "1"
    throttled: list[float] = []
    draw = fake.faults.draw

    def drawing(*, part: bool = False) -> str | None:
        kind = draw(part=part)
        if kind == "429":
            throttled.append(time.monotonic())
        return kind

    fake.faults.draw = drawing  # type: ignore[method-assign]
    # A create batch is throttled as a whole (after the busy pass and a first one).
    fake.faults.queue.extend(["none", "none", "429"])
    try:
        summary = book_month(rt, MONTH, NOW)
    finally:
        rt.close()
    assert summary.created == TEAMS * SELLERS and not summary.failures()
    assert len(throttled) == 1
    window = [t for t in watch.arrivals if throttled[0] + 0.05 < t < throttled[0] + 0.9]
    assert window == []
    assert [t for t in watch.arrivals if t >= throttled[0] + 0.9]
