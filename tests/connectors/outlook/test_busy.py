"""Outlook free/busy against the fake Graph: which mailbox asks, window limits, and
the status values Graph writes in more than one case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import BusyKind
from connectors.outlook.events import schedule_busy
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

UTC = dt.UTC
MANAGER = "manager@example.com"
SELLERS = [f"seller{n}@example.com" for n in range(24)]
PEOPLE = [MANAGER, *SELLERS]
MARCH = (dt.datetime(2031, 3, 1, tzinfo=UTC), dt.datetime(2031, 4, 1, tzinfo=UTC))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph(PEOPLE).start()
    try:
        yield server
    finally:
        server.stop()


def callers(fake: FakeGraph) -> set[str]:
    return {path.split("/")[2].lower() for method, path, _h in fake.log if "getSchedule" in path}


def test_a_refused_seller_mailbox_fails_nobody_else(fake: FakeGraph, tmp_path: Path) -> None:
    # seller19 heads the second group of 20: asked through its own mailbox, the whole
    # group (seller19..seller23) came back in error.
    fake.state.denied.add("seller19@example.com")
    fake.add_event(
        "seller22@example.com",
        dt.datetime(2031, 3, 5, 9, tzinfo=UTC),
        dt.datetime(2031, 3, 5, 10, tzinfo=UTC),
    )
    conn = connect(fake, tmp_path)
    try:
        answer = conn.busy([ref(p) for p in PEOPLE], *MARCH)
    finally:
        conn.close()
    assert set(answer.errors) <= {"seller19"}
    assert {f"seller{n}" for n in range(20, 24)} <= set(answer.intervals)
    assert len(answer.intervals["seller22"]) == 1
    assert callers(fake) == {MANAGER}


def test_a_refused_organiser_is_asked_around(fake: FakeGraph, tmp_path: Path) -> None:
    fake.state.denied.add(MANAGER)
    fake.add_event(
        "seller3@example.com",
        dt.datetime(2031, 3, 5, 9, tzinfo=UTC),
        dt.datetime(2031, 3, 5, 10, tzinfo=UTC),
    )
    conn = connect(fake, tmp_path)
    try:
        answer = conn.busy([ref(p) for p in PEOPLE], *MARCH)
    finally:
        conn.close()
    # Each group is asked again through one of its own mailboxes; the fake, like
    # Graph, still answers for the refused mailbox's free/busy.
    assert not answer.errors
    assert len(answer.intervals["seller3"]) == 1
    assert callers(fake) == {MANAGER, "seller0@example.com", "seller19@example.com"}


def test_a_lone_refused_mailbox_is_an_error_naming_it(fake: FakeGraph, tmp_path: Path) -> None:
    fake.state.denied.add(MANAGER)
    conn = connect(fake, tmp_path)
    try:
        answer = conn.busy([ref(MANAGER)], *MARCH)
    finally:
        conn.close()
    assert MANAGER in answer.errors["manager"] and "403" in answer.errors["manager"]


def test_windows_fit_a_graph_that_refuses_42_days(fake: FakeGraph, tmp_path: Path) -> None:
    assert fake.schedule_max_days < 42  # the fake's default is the strict reading
    start = dt.datetime(2031, 3, 1, tzinfo=UTC)
    late = dt.datetime(2031, 4, 25, 9, tzinfo=UTC)  # in the second of two windows
    fake.add_event(MANAGER, late, late + dt.timedelta(hours=1))
    conn = connect(fake, tmp_path)
    try:
        answer = conn.busy([ref(MANAGER)], start, start + dt.timedelta(days=60))
    finally:
        conn.close()
    assert not answer.errors
    assert [(b.start, b.end) for b in answer.intervals["manager"]] == [
        (late, late + dt.timedelta(hours=1))
    ]


def test_fake_window_limit_is_configurable(fake: FakeGraph, tmp_path: Path) -> None:
    fake.schedule_max_days = 20  # stricter than the connector's 40-day windows
    conn = connect(fake, tmp_path)
    try:
        answer = conn.busy([ref(MANAGER)], *MARCH)
    finally:
        conn.close()
    assert "ErrorInvalidTimeInterval" in answer.errors["manager"]


def test_schedule_item_status_is_read_in_any_case() -> None:
    start = dt.datetime(2031, 3, 4, 8, tzinfo=UTC)
    items = [
        {
            "status": status,
            "start": {"dateTime": f"2031-03-04T{h:02}:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"2031-03-04T{h:02}:30:00", "timeZone": "UTC"},
        }
        for h, status in [(8, "Busy"), (9, "OOF"), (10, "Tentative"), (11, "WorkingElsewhere")]
    ]
    busy = schedule_busy({"scheduleItems": items}, start, 15)
    assert [b.kind for b in busy] == [BusyKind.BUSY, BusyKind.OOF, BusyKind.TENTATIVE]
