"""The store on SQLite and PostgreSQL: sessions with history, cursors, job and
report claims that make "nothing twice" hold across processes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.model import Month, SessionRecord, SessionState, session_key
from scheduler.store.store import Store

NOW = datetime(2030, 5, 2, 8, 0, tzinfo=UTC)
MONTH = Month(2030, 5)


def _record(seller: str = "s1", attempt: int = 1) -> SessionRecord:
    return SessionRecord(
        key=session_key("acme", "m1", seller, MONTH, attempt),
        org_id="acme",
        team_id="t1",
        manager_id="m1",
        seller_id=seller,
        month=MONTH,
        attempt=attempt,
        state=SessionState.PLANNED,
        start=datetime(2030, 5, 7, 9, 0, tzinfo=UTC),
        end=datetime(2030, 5, 7, 9, 45, tzinfo=UTC),
        connector="local",
    )


@pytest.fixture
def store(store_url: str):  # type: ignore[no-untyped-def]
    s = Store.open(store_url)
    yield s
    s.close()


def test_session_intent_is_written_once_and_keeps_history(store: Store) -> None:
    rec = _record()
    assert store.add_session(rec, now=NOW, detail="planned")
    assert not store.add_session(rec, now=NOW), "same key must not be inserted twice"
    assert store.transition(
        rec.key, SessionState.BOOKED, now=NOW, event_id="ev1", expect={SessionState.PLANNED}
    )
    # compare-and-set: a second booker sees the state moved on and backs off
    assert not store.transition(
        rec.key, SessionState.BOOKED, now=NOW, expect={SessionState.PLANNED}
    )
    later = NOW + timedelta(days=6)
    store.transition(rec.key, SessionState.HELD, now=later, detail="presumed")
    got = store.get(rec.key)
    assert got is not None
    assert got.state is SessionState.HELD and got.event_id == "ev1"
    assert got.start == rec.start and got.start.tzinfo is not None
    states = [(h.from_state, h.to_state) for h in store.history(keys=[rec.key])]
    assert states == [
        (None, SessionState.PLANNED),
        (SessionState.PLANNED, SessionState.BOOKED),
        (SessionState.BOOKED, SessionState.HELD),
    ]
    assert [r.key for r in store.sessions(org_id="acme", month=MONTH)] == [rec.key]
    assert store.sessions(month=MONTH.next()) == []


def test_naive_datetimes_are_refused(store: Store) -> None:
    rec = _record()
    store.add_session(rec, now=NOW)
    with pytest.raises(Exception, match="naive"):
        store.set_fields(rec.key, now=NOW, start=datetime(2030, 5, 7, 9, 0))


def test_cursor_roundtrip(store: Store) -> None:
    assert store.cursor("google", "a@x", "2030-05") is None
    store.set_cursor("google", "a@x", "2030-05", "tok1", now=NOW)
    store.set_cursor("google", "a@x", "2030-05", "tok2", now=NOW)
    assert store.cursor("google", "a@x", "2030-05") == "tok2"


def test_cursors_of_a_connector_and_window_in_one_read(store: Store) -> None:
    store.set_cursor("google", "a@x", "2030-05..2030-07", "a1", now=NOW)
    store.set_cursor("google", "b@x", "2030-05..2030-07", "b1", now=NOW)
    store.set_cursor("google", "b@x", "2030-05..2030-07", "b2", now=NOW)
    store.set_cursor("google", "c@x", "2030-04..2030-06", "c1", now=NOW)  # another window
    store.set_cursor("outlook", "a@x", "2030-05..2030-07", "o1", now=NOW)  # another connector
    assert store.cursors("google", "2030-05..2030-07") == {"a@x": "a1", "b@x": "b2"}
    assert store.cursors("caldav", "2030-05..2030-07") == {}


def test_job_claim_once_per_period_and_stale_takeover(store: Store) -> None:
    assert store.claim_job("book", "2030-06", owner="a", now=NOW)
    assert not store.claim_job("book", "2030-06", owner="b", now=NOW), "running elsewhere"
    assert store.claim_job("book", "2030-06", owner="b", now=NOW + timedelta(hours=3)), "stale"
    store.finish_job("book", "2030-06", ok=True, now=NOW + timedelta(hours=3))
    assert not store.claim_job("book", "2030-06", owner="c", now=NOW + timedelta(days=1))
    store.claim_job("report", "2030-05", owner="a", now=NOW)
    store.finish_job("report", "2030-05", ok=False, now=NOW, detail="smtp down")
    assert store.claim_job("report", "2030-05", owner="a", now=NOW), "a failed run is retried"


def test_report_claims(store: Store) -> None:
    mid = "<report.acme.2030-05@coachpass>"
    first = store.claim_report(
        "acme", MONTH, "CEO@x.example", resend=False, now=NOW, message_id=mid
    )
    assert first is not None
    assert (
        store.claim_report("acme", MONTH, "ceo@x.example", resend=False, now=NOW, message_id=mid)
        is None
    ), "in flight"
    store.mark_report_sent(first[0], now=NOW)
    assert (
        store.claim_report("acme", MONTH, "ceo@x.example", resend=False, now=NOW, message_id=mid)
        is None
    ), "sent already"
    again = store.claim_report("acme", MONTH, "ceo@x.example", resend=True, now=NOW, message_id=mid)
    assert again is not None and again[1] != first[1]
    assert [r["sequence"] for r in store.sent_reports("acme", MONTH)] == [0, 1]


def test_stale_report_claim_is_never_taken_over_but_reported_unknown(store: Store) -> None:
    """Finding 7: a `sending` claim may have reached the recipient; age alone must
    not turn it into a second send. It is reported until someone resolves it."""
    mid = "<r@coachpass>"
    first = store.claim_report("acme", MONTH, "a@x", resend=False, now=NOW, message_id=mid)
    assert first is not None
    later = NOW + timedelta(hours=1)
    assert store.claim_report("acme", MONTH, "a@x", resend=False, now=later, message_id=mid) is None
    assert store.reports_with_unknown_outcome(now=NOW) == [], "a fresh claim is a live send"
    stale = store.reports_with_unknown_outcome(now=later)
    assert [(r["recipient"], r["status"]) for r in stale] == [("a@x", "sending")]
    store.mark_report_unknown(first[0])
    assert [r["status"] for r in store.reports_with_unknown_outcome(now=NOW)] == ["unknown"]
    assert store.claim_report("acme", MONTH, "a@x", resend=False, now=later, message_id=mid) is None
    store.resolve_report(first[0], delivered=False, now=later)
    again = store.claim_report("acme", MONTH, "a@x", resend=True, now=later, message_id=mid)
    assert again is not None and again[1] != first[1]
    assert store.reports_with_unknown_outcome(now=later + timedelta(minutes=1)) == []


def test_two_processes_racing_for_one_job_claim(store_url: str) -> None:
    """Threads with their own Store (own engine, own connections) race for one claim."""
    stores = [Store.open(store_url) for _ in range(6)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def race(s: Store) -> None:
        barrier.wait()
        wins.append(s.claim_job("book", "2030-07", owner=str(id(s)), now=NOW))

    threads = [threading.Thread(target=race, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert sorted(wins) == [False] * 5 + [True]


def test_sent_marks_tell_a_retry_from_a_first_send(store: Store) -> None:
    rec = _record()
    store.add_session(rec, now=NOW)
    assert store.sent_before([rec.key]) == set()
    store.mark_sent([rec.key], now=NOW)
    assert store.sent_before([rec.key, "cp-other"]) == {rec.key}
    assert store.get(rec.key).state is SessionState.PLANNED  # type: ignore[union-attr]
