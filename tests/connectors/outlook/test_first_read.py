"""The first (full) read of an organiser's calendar: the delta round that hands out
the token and the calendarView that carries our tags share one `$batch`, the view
waiting for the delta page (`dependsOn`), so nothing that changes between the two
is missed by both this read and the next."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Attendee, ConnectorUserError, NewEvent, Response
from connectors.outlook.http import Part, _chunks, depends_on
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

UTC = dt.UTC
MANAGER = "manager@example.com"
SELLERS = [f"seller{n}@example.com" for n in range(3)]
MARCH = (dt.datetime(2031, 3, 1, tzinfo=UTC), dt.datetime(2031, 4, 1, tzinfo=UTC))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph([MANAGER, *SELLERS]).start()
    try:
        yield server
    finally:
        server.stop()


def sessions() -> list[NewEvent]:
    out = []
    for n, seller in enumerate(SELLERS):
        start = dt.datetime(2031, 3, 10 + n, 9, tzinfo=UTC)
        out.append(
            NewEvent(
                key="cp" + uuid.uuid4().hex,
                organizer=ref(MANAGER),
                attendees=(Attendee(seller),),
                start=start,
                end=start + dt.timedelta(minutes=45),
                summary="Coaching",
                description_text="Agenda",
                may_exist=False,
            )
        )
    return out


def batches(fake: FakeGraph) -> list[list[dict[str, Any]]]:
    """The parts of every `$batch` the fake was sent from now on, as sent."""
    sent: list[list[dict[str, Any]]] = []
    inner = fake.handle

    def handle(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
        if raw_path.split("?")[0].endswith("/$batch"):
            sent.append(json.loads(body)["requests"])
        return inner(method, raw_path, headers, body)

    fake.handle = handle  # type: ignore[method-assign]
    return sent


def test_a_first_read_is_one_request_with_the_view_after_the_delta_page(
    fake: FakeGraph, tmp_path: Path
) -> None:
    events = sessions()
    conn = connect(fake, tmp_path)
    try:
        conn.create(events)
        sent = batches(fake)
        before = fake.counts["graph"]
        full = conn.changes(ref(MANAGER), None, *MARCH)
        used = fake.counts["graph"] - before
        quiet = conn.changes(ref(MANAGER), full.cursor, *MARCH)  # the token works
    finally:
        conn.close()
    assert full.full and {s.key for s in full.events} == {e.key for e in events}
    assert used == 1  # before: the delta page, then the view page
    ((delta, view),) = sent[:1]
    assert "/calendarView/delta?" in delta["url"] and "dependsOn" not in delta
    assert "/calendarView?" in view["url"] and view["dependsOn"] == [delta["id"]]
    assert not quiet.full and quiet.events == () and quiet.removed == ()


def test_a_change_right_after_the_view_is_read_comes_with_the_next_delta(
    fake: FakeGraph, tmp_path: Path
) -> None:
    """Read before the token, the view would miss a reply given between the two, and
    the token would already stand after it: lost to both reads."""
    (event, *_rest) = sessions()
    conn = connect(fake, tmp_path)
    inner = fake._graph

    def graph(method: str, path: str, *args: Any, **kw: Any) -> Any:
        answer = inner(method, path, *args, **kw)
        if path.lower().endswith("/calendarview") and not replied:
            replied.append(True)
            fake.respond(event.key, SELLERS[0], "declined")
        return answer

    replied: list[bool] = []
    try:
        conn.create([event])
        fake._graph = graph  # type: ignore[method-assign]
        full = conn.changes(ref(MANAGER), None, *MARCH)
        fake._graph = inner  # type: ignore[method-assign]
        later = conn.changes(ref(MANAGER), full.cursor, *MARCH)
    finally:
        conn.close()
    assert replied
    seen = [s.responses.get(SELLERS[0]) for s in (*full.events, *later.events)]
    assert Response.DECLINED in seen


def test_a_refused_mailbox_costs_one_request_and_no_wait(fake: FakeGraph, tmp_path: Path) -> None:
    fake.state.denied.add(MANAGER)
    sleeps: list[float] = []
    conn = connect(fake, tmp_path, sleeps)
    try:
        before = fake.counts["graph"]
        with pytest.raises(ConnectorUserError, match=MANAGER):
            conn.changes(ref(MANAGER), None, *MARCH)
    finally:
        conn.close()
    # The view waited for the refused delta page (424): not sent again on its own.
    assert fake.counts["graph"] - before == 1 and sleeps == []


def test_a_long_delta_round_reads_the_view_again_after_its_last_page(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.max_page = 2  # three sessions: two delta pages
    events = sessions()
    conn = connect(fake, tmp_path)
    try:
        conn.create(events)
        before = fake.counts["graph"]
        full = conn.changes(ref(MANAGER), None, *MARCH)
        used = fake.counts["graph"] - before
    finally:
        conn.close()
    assert {s.key for s in full.events} == {e.key for e in events}
    # the batch (delta page 1 + view page 1), delta page 2, the view's two pages again:
    # as many as reading them one by one
    assert used == 1 + 1 + 2


def test_a_part_and_the_one_it_comes_after() -> None:
    parts = [
        Part("delta", "GET", "/d", "a"),
        Part("view", "GET", "/v", "a", after="delta"),
        *(Part(f"o{n}", "GET", "/o", "a") for n in range(4)),
    ]
    # In one batch: its lane (the 5th part of a mailbox waits for the 1st) and `after`.
    assert depends_on(parts) == {"view": ["delta"], "o3": ["view"], "o2": ["delta"]}
    # Flat (a tenant that refuses batches mixing dependsOn): never in one batch.
    flat = _chunks(parts, flat=True)
    where = {p.id: n for n, chunk in enumerate(flat) for p in chunk}
    assert where["view"] > where["delta"]
    # Alone in a later batch (its part ran in an earlier one): no dependsOn at all.
    assert depends_on(parts[1:2]) == {}
