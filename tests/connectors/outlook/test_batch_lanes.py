"""`$batch` and Outlook's 4-requests-per-mailbox limit: `dependsOn` only inside one
mailbox (four lanes), so one throttled part holds up only its own lane, never the
parts of other mailboxes. And the fake enforces what Graph documents: 424 for a part
whose dependency failed, 429 for a fifth part of one mailbox running at once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import Attendee, NewEvent, Outcome
from connectors.outlook.http import MAILBOX_CONCURRENCY, Part, lanes
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

MANAGERS = ["a@example.com", "b@example.com", "c@example.com"]
SELLERS = [f"s{n}@example.com" for n in range(24)]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph(MANAGERS + SELLERS).start()
    try:
        yield server
    finally:
        server.stop()


def post_batch(fake: FakeGraph, reqs: list[dict[str, Any]]) -> dict[str, int]:
    token = fake._issue("app")["access_token"]
    with httpx.Client(transport=fake.transport()) as client:
        resp = client.post(
            f"{fake.graph_endpoint}/$batch",
            json={"requests": reqs},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert resp.status_code == 200, resp.text
    return {r["id"]: r["status"] for r in resp.json()["responses"]}


def sessions(manager: str, sellers: list[str]) -> list[NewEvent]:
    out = []
    for n, seller in enumerate(sellers):
        start = dt.datetime(2031, 3, 3 + n // 4, 8 + 2 * (n % 4), tzinfo=dt.UTC)
        out.append(
            NewEvent(
                key="cp" + uuid.uuid4().hex,
                organizer=ref(manager),
                attendees=(Attendee(seller),),
                start=start,
                end=start + dt.timedelta(minutes=45),
                summary="Coaching",
                description_text="Agenda",
                may_exist=False,
            )
        )
    return out


def test_lanes_wait_only_for_the_same_mailbox() -> None:
    boxes = ["a"] * 9 + ["b"] * 3 + ["c"] * 6
    parts = [Part(f"p{i}", "GET", "/x", box) for i, box in enumerate(boxes)]
    after = lanes(parts)
    box_of = {p.id: p.mailbox for p in parts}
    assert all(box_of[waiter] == box_of[first] for waiter, first in after.items())
    for box in "abc":
        mine = [p.id for p in parts if p.mailbox == box]
        free = [i for i in mine if i not in after]
        assert free == mine[:MAILBOX_CONCURRENCY]  # the first four run at once
        # every later part waits for the one four places before it: lanes, not a chain
        assert [after[i] for i in mine[MAILBOX_CONCURRENCY:]] == mine[: max(0, len(mine) - 4)]


def test_one_throttled_part_fails_only_its_own_lane(fake: FakeGraph, tmp_path: Path) -> None:
    """Two organisers with 8 sessions each in one 16-part create batch; the first
    part is throttled. Only the part waiting for it (424) is held up; before, one
    chain through the whole batch failed all 15 later parts, of both mailboxes."""
    events = sessions(MANAGERS[0], SELLERS[:8]) + sessions(MANAGERS[1], SELLERS[8:16])
    fake.faults.part_queue = ["429"]
    conn = connect(fake, tmp_path)
    try:
        results = conn.create(events)
    finally:
        conn.close()
    assert [r.outcome for r in results] == [Outcome.CREATED] * 16
    assert fake.counts["failed_dependency"] == 1
    assert fake.counts["mailbox_throttled"] == 0
    assert all(len(fake.by_key(e.key, include_deleted=True)) == 1 for e in events)
    # the create batch, then the throttled part and its lane-mate again
    assert fake.counts["batch_parts"] == 16 + 2


def test_fake_answers_424_to_a_part_whose_dependency_failed(fake: FakeGraph) -> None:
    box = MANAGERS[0]
    reqs = [
        {"id": "1", "method": "GET", "url": "/users/nobody@example.com/events"},  # 404
        {"id": "2", "method": "GET", "url": f"/users/{box}/events", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": f"/users/{box}/events"},
    ]
    assert post_batch(fake, reqs) == {"1": 404, "2": 424, "3": 200}


def test_fake_counts_parts_of_one_wave_against_the_mailbox_limit(fake: FakeGraph) -> None:
    """Five parts of one mailbox at once: the fifth is throttled. The same five with
    the fifth waiting for the first (a lane) all run; other mailboxes are apart."""
    box, other = MANAGERS[0], MANAGERS[1]
    flat = [{"id": str(i), "method": "GET", "url": f"/users/{box}/events"} for i in range(5)]
    assert sorted(post_batch(fake, flat).values()) == [200, 200, 200, 200, 429]
    laned = [dict(r) for r in flat]
    laned[4]["dependsOn"] = ["0"]
    laned += [{"id": f"o{i}", "method": "GET", "url": f"/users/{other}/events"} for i in range(4)]
    assert set(post_batch(fake, laned).values()) == {200}


def test_a_tenant_refusing_mixed_batches_gets_the_lanes_as_batches_of_their_own(
    fake: FakeGraph, tmp_path: Path
) -> None:
    """Older tenants answered 400 to a batch mixing parts with and without dependsOn.
    Nothing ran, so the connector sends the same parts again without dependsOn, at
    most 4 per mailbox and batch, and keeps doing so for the rest of its life."""
    fake.refuse_mixed_dependson = True
    first = sessions(MANAGERS[0], SELLERS[:8]) + sessions(MANAGERS[1], SELLERS[8:16])
    later = sessions(MANAGERS[2], SELLERS[16:24])
    conn = connect(fake, tmp_path)
    try:
        results = conn.create(first)
        before = fake.counts["graph"]
        results += conn.create(later)
    finally:
        conn.close()
    assert [r.outcome for r in results] == [Outcome.CREATED] * 24
    assert all(len(fake.by_key(e.key, include_deleted=True)) == 1 for e in first + later)
    assert before == 3  # the refused batch, then two flat ones (4 + 4 parts per mailbox)
    assert fake.counts["graph"] - before == 2  # no second refusal: flat from the start
    assert fake.counts["mailbox_throttled"] == 0
