"""The Outlook connector under throttling, server faults, lost answers and slowness.

The rule under test: whatever Graph does, a session key ends up as exactly one event
(counted in the organiser's calendar *and* Deleted Items), and Retry-After is obeyed.
Sleeps are recorded, never waited for.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path

import pytest

from connectors.base import Attachment, Attendee, AuthError, NewEvent, Outcome, Result
from connectors.outlook.connector import OutlookConnector
from connectors.outlook.http import _retry_after
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

MANAGERS = [f"manager{m}@example.com" for m in range(3)]
SELLERS = {m: [f"seller{m}-{s}@example.com" for s in range(15)] for m in range(3)}
ALL = MANAGERS + [s for group in SELLERS.values() for s in group]
MARCH_DAY = (dt.datetime(2031, 3, 1, tzinfo=dt.UTC), dt.datetime(2031, 3, 2, tzinfo=dt.UTC))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph(ALL).start()
    try:
        yield server
    finally:
        server.stop()


def month_of_sessions(manager: int, attachments: tuple[Attachment, ...] = ()) -> list[NewEvent]:
    """One session per seller, spread over March 2031 working days."""
    out = []
    day = dt.datetime(2031, 3, 3, 8, tzinfo=dt.UTC)
    for n, seller in enumerate(SELLERS[manager]):
        start = day + dt.timedelta(days=n // 3, hours=2 * (n % 3))
        out.append(
            NewEvent(
                key="cp" + uuid.uuid4().hex,
                organizer=ref(MANAGERS[manager]),
                attendees=(Attendee(seller),),
                start=start,
                end=start + dt.timedelta(minutes=45),
                summary="Coaching",
                description_text="Agenda",
                attachments=attachments,
            )
        )
    return out


def book_until_done(conn: OutlookConnector, events: list[NewEvent], runs: int = 5) -> list[Result]:
    """What the service does: book, and retry what failed retryably on the next run."""
    final: dict[str, Result] = {}
    todo = events
    for _ in range(runs):
        results = conn.create(todo)
        for r in results:
            final[r.key] = r
        todo = [e for e, r in zip(todo, results, strict=True) if not r.ok]
        assert all(r.retryable for r in results if not r.ok), results
        if not todo:
            break
    return [final[e.key] for e in events]


def test_retry_after_is_obeyed(fake: FakeGraph, tmp_path: Path) -> None:
    sleeps: list[float] = []
    conn = connect(fake, tmp_path, sleeps)
    fake.faults.retry_after = "7"
    fake.faults.queue = ["429", "429"]
    try:
        answer = conn.busy(
            [ref(MANAGERS[0])],
            dt.datetime(2031, 3, 1, tzinfo=dt.UTC),
            dt.datetime(2031, 3, 2, tzinfo=dt.UTC),
        )
    finally:
        conn.close()
    assert not answer.errors
    assert sleeps == [7.0, 7.0]
    assert fake.counts["graph"] == 3


def test_503_without_retry_after_backs_off_exponentially(fake: FakeGraph, tmp_path: Path) -> None:
    sleeps: list[float] = []
    conn = connect(fake, tmp_path, sleeps, backoff_seconds=2.0)
    fake.faults.queue = ["503", "503", "503"]
    try:
        conn.busy(
            [ref(MANAGERS[0])],
            dt.datetime(2031, 3, 1, tzinfo=dt.UTC),
            dt.datetime(2031, 3, 2, tzinfo=dt.UTC),
        )
    finally:
        conn.close()
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        base = 2.0 * 2**attempt
        assert 0.5 * base <= slept <= 1.5 * base  # jittered around the doubling base
    assert len(set(sleeps)) == 3


def test_persistent_throttling_is_a_retryable_failure(fake: FakeGraph, tmp_path: Path) -> None:
    conn = connect(fake, tmp_path, max_attempts=3)
    fake.faults.rate, fake.faults.kinds = 1.0, ("429",)
    try:
        (result,) = conn.create(month_of_sessions(0)[:1])
    finally:
        conn.close()
    assert result.outcome is Outcome.FAILED and result.retryable
    assert "manager0@example.com" in (result.error or "")
    fake.faults.clear()
    assert not fake.by_key(result.key, include_deleted=True)


@pytest.mark.parametrize("fault", ["reset", "503"])
def test_lost_create_batch_is_looked_up_not_repeated(
    fake: FakeGraph, tmp_path: Path, fault: str
) -> None:
    events = month_of_sessions(0)[:5]
    conn = connect(fake, tmp_path)
    # The look-up batch passes; the create batch is executed and its answer lost (reset),
    # or refused as a whole (503).
    fake.faults.queue = ["none", fault]
    try:
        results = conn.create(events)
    finally:
        conn.close()
    assert [r.outcome for r in results] == [Outcome.CREATED] * 5
    for event, result in zip(events, results, strict=True):
        made = fake.by_key(event.key, include_deleted=True)
        assert [e.id for e in made] == [result.event_id]


def test_lost_single_create_is_looked_up(fake: FakeGraph, tmp_path: Path) -> None:
    (event,) = month_of_sessions(1)[:1]
    conn = connect(fake, tmp_path)
    fake.faults.queue = ["none", "reset"]  # look-up GET passes, the POST's answer is lost
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.CREATED
    assert len(fake.by_key(event.key, include_deleted=True)) == 1


def test_slow_answer_past_the_timeout_is_adopted(fake: FakeGraph, tmp_path: Path) -> None:
    events = month_of_sessions(2)[:3]
    conn = connect(fake, tmp_path, timeout_seconds=0.2)
    fake.faults.slow_seconds = 0.6
    fake.faults.queue = ["none", "slow"]
    try:
        results = conn.create(events)
    finally:
        conn.close()
    assert all(r.outcome is Outcome.CREATED for r in results)
    for event in events:
        assert len(fake.by_key(event.key, include_deleted=True)) == 1


def test_part_faults_inside_a_batch_are_redone_alone(fake: FakeGraph, tmp_path: Path) -> None:
    events = month_of_sessions(0)[:4]
    conn = connect(fake, tmp_path)
    # Look-ups all pass; of the four creates, one is throttled and one gets a 503.
    fake.faults.part_queue = ["none"] * 4 + ["429", "none", "503", "none"]
    try:
        results = conn.create(events)
    finally:
        conn.close()
    assert all(r.outcome is Outcome.CREATED for r in results)
    assert all(len(fake.by_key(e.key, include_deleted=True)) == 1 for e in events)


def test_many_events_for_one_mailbox_wait_in_four_lanes(fake: FakeGraph, tmp_path: Path) -> None:
    events = month_of_sessions(0)  # 15 creates for one organiser in one batch
    conn = connect(fake, tmp_path)
    try:
        results = conn.create(events)
    finally:
        conn.close()
    assert all(r.outcome is Outcome.CREATED for r in results)
    assert fake.counts["mailbox_throttled"] == 0
    # look-up batch, create batch: one HTTP request each.
    assert fake.counts["graph"] == 2


def test_fake_throttles_a_fifth_parallel_request_to_one_mailbox(fake: FakeGraph) -> None:
    """The rule the chaining above avoids is really enforced by the fake."""
    import httpx

    token = fake._issue("app")["access_token"]
    box = MANAGERS[0]
    reqs = [{"id": str(i), "method": "GET", "url": f"/users/{box}/events"} for i in range(5)]
    with httpx.Client(transport=fake.transport()) as client:
        resp = client.post(
            f"{fake.graph_endpoint}/$batch",
            json={"requests": reqs},
            headers={"Authorization": f"Bearer {token}"},
        )
    statuses = sorted(r["status"] for r in resp.json()["responses"])
    assert statuses == [200, 200, 200, 200, 429]


AGENDA = Attachment("agenda.html", "text/html", b"<h1>Agenda</h1>")


@pytest.mark.parametrize("files", [(), (AGENDA,)], ids=["no file", "agenda file"])
def test_full_month_with_ten_percent_faults_books_each_seller_once(
    fake: FakeGraph, tmp_path: Path, files: tuple[Attachment, ...]
) -> None:
    sleeps: list[float] = []
    conn = connect(fake, tmp_path, sleeps, timeout_seconds=0.3)
    fake.faults.rate = 0.10
    fake.faults.slow_seconds = 0.4
    fake.faults.seed = 20310301
    plans = {m: month_of_sessions(m, files) for m in range(3)}
    try:
        window = (dt.datetime(2031, 3, 1, tzinfo=dt.UTC), dt.datetime(2031, 4, 1, tzinfo=dt.UTC))
        for m in range(3):
            free = conn.busy([ref(MANAGERS[m])] + [ref(s) for s in SELLERS[m]], *window)
            assert not free.errors
        # Managers 0 and 1 booked together (one call), manager 2 on its own.
        results = book_until_done(conn, plans[0] + plans[1]) + book_until_done(conn, plans[2])
    finally:
        conn.close()
    assert all(r.ok for r in results)
    assert sum(fake.faults.injected.values()) >= 5, fake.faults.injected
    for m in range(3):
        for event in plans[m]:
            made = fake.by_key(event.key, include_deleted=True)
            assert len(made) == 1, (event.key, len(made))
        in_calendar = [e for e in fake.state.live(MANAGERS[m]) if e.ext_props]
        assert len(in_calendar) == 15
        invited = sorted(a["emailAddress"]["address"] for e in in_calendar for a in e.attendees)
        assert invited == sorted(SELLERS[m])  # every seller once, none twice
        for seller in SELLERS[m]:
            # one invitation each, carrying the file exactly once when there is one
            (invitation,) = fake.state.sent[seller]
            assert invitation["attachments"] == [a.filename for a in files]


def test_connection_broken_mid_batch_adopts_done_and_makes_the_rest(
    fake: FakeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = month_of_sessions(1)[:5]
    conn = connect(fake, tmp_path)
    monkeypatch.setattr(fake.faults, "cut_point", lambda: 2)  # 2 of 5 creates ran
    fake.faults.queue = ["none", "reset"]
    try:
        results = conn.create(events)
    finally:
        conn.close()
    assert [r.outcome for r in results] == [Outcome.CREATED] * 5
    assert [len(fake.by_key(e.key, include_deleted=True)) for e in events] == [1] * 5
    # look-ups, the broken batch, look-ups again, the 3 missing creates
    assert fake.counts["graph"] == 4


def test_moves_cancels_and_changes_under_ten_percent_faults(
    fake: FakeGraph, tmp_path: Path
) -> None:
    from connectors.base import ChangeAction, EventChange

    window = (dt.datetime(2031, 3, 1, tzinfo=dt.UTC), dt.datetime(2031, 4, 1, tzinfo=dt.UTC))
    events = month_of_sessions(0)
    conn = connect(fake, tmp_path, timeout_seconds=0.3)
    fake.faults.slow_seconds = 0.4
    try:
        book_until_done(conn, events)
        cursor = conn.changes(ref(MANAGERS[0]), None, *window).cursor
        fake.faults.rate, fake.faults.seed = 0.10, 99
        later = dt.timedelta(days=14)
        changes = [
            EventChange(e.key, e.organizer, ChangeAction.CANCEL, comment="Ill")
            if n % 2
            else EventChange(
                e.key, e.organizer, ChangeAction.MOVE, None, e.start + later, e.end + later
            )
            for n, e in enumerate(events)
        ]
        results = conn.update(changes)
        assert all(r.ok for r in results), [r for r in results if not r.ok]
        answer = conn.changes(ref(MANAGERS[0]), cursor, *window)
    finally:
        conn.close()
    moved = {s.key: s.start for s in answer.events}
    for n, event in enumerate(events):
        if n % 2:
            assert event.key in answer.removed
        else:
            assert moved[event.key] == event.start + later


def test_token_refused_after_a_throttled_attempt_is_renewed(
    fake: FakeGraph, tmp_path: Path
) -> None:
    # A long Retry-After outlasts the token: the 401 comes on the second attempt.
    sleeps: list[float] = []
    conn = connect(fake, tmp_path, sleeps)
    fake.faults.retry_after = "120"
    fake.faults.queue = ["429", "401"]
    try:
        answer = conn.busy([ref(MANAGERS[0])], *MARCH_DAY)
        tokens_after = fake.counts["token"]
    finally:
        conn.close()
    assert not answer.errors
    assert sleeps == [120.0]
    assert fake.counts["graph"] == 3
    assert len(fake.tokens) == 1  # the refused token is gone, a new one was issued
    assert tokens_after >= 3  # discovery, first token, renewed token


def test_a_second_refused_token_in_one_call_is_an_auth_error(
    fake: FakeGraph, tmp_path: Path
) -> None:
    conn = connect(fake, tmp_path)
    fake.faults.queue = ["401", "401"]
    try:
        with pytest.raises(AuthError, match="401"):
            conn.busy([ref(MANAGERS[0])], *MARCH_DAY)
    finally:
        conn.close()


def test_retry_after_as_an_http_date_is_obeyed(fake: FakeGraph, tmp_path: Path) -> None:
    sleeps: list[float] = []
    conn = connect(fake, tmp_path, sleeps)
    now = dt.datetime(2031, 3, 1, 12, 0, tzinfo=dt.UTC)
    conn.graph.clock = lambda: now
    fake.faults.retry_after = format_datetime(now + dt.timedelta(seconds=45), usegmt=True)
    fake.faults.queue = ["429"]
    try:
        answer = conn.busy([ref(MANAGERS[0])], *MARCH_DAY)
    finally:
        conn.close()
    assert not answer.errors
    assert sleeps == [45.0]


def test_retry_after_forms() -> None:
    now = dt.datetime(2031, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert _retry_after({"Retry-After": "7"}, now) == 7.0
    assert _retry_after({"retry-after": "Sat, 01 Mar 2031 12:01:30 GMT"}, now) == 90.0
    assert _retry_after({"Retry-After": "Sat, 01 Mar 2031 11:00:00 GMT"}, now) == 0.0
    assert _retry_after({"Retry-After": "soon"}, now) is None
    assert _retry_after({}, now) is None
