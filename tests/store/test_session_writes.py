"""Many sessions written at once (a team's intents, a create call's results) on SQLite
and PostgreSQL: each key still inserted once, each move still compared and set on
its own, with its history, behind the fence."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.errors import StoreError
from scheduler.model import Month, SessionRecord, SessionState, session_key
from scheduler.store import session_writes
from scheduler.store.session_writes import Intent, Move
from scheduler.store.store import Store

NOW = datetime(2030, 5, 2, 8, 0, tzinfo=UTC)
MONTH = Month(2030, 5)
PLANNED = frozenset({SessionState.PLANNED})


def _record(seller: str, attempt: int = 1) -> SessionRecord:
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


def _booked(key: str, event_id: str) -> Move:
    return Move(
        key, SessionState.BOOKED, "created in local", PLANNED, {"event_id": event_id, "reason": ""}
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


@pytest.fixture
def other(store_url: str, store: Store) -> Iterator[Store]:
    """Another process on the same database: its own engine and connections."""
    s = Store.open(store_url, migrate=False)
    yield s
    s.close()


def _history(store: Store, key: str) -> list[tuple[str | None, str, str]]:
    return [
        (h.from_state.value if h.from_state else None, h.to_state.value, h.detail)
        for h in store.history(keys=[key])
    ]


def test_add_sessions_inserts_each_new_key_once_with_its_first_history(store: Store) -> None:
    s1, s2, s3 = _record("s1"), _record("s2"), _record("s3")
    assert store.add_session(s1, now=NOW, detail="planned")
    assert store.transition(s1.key, SessionState.BOOKED, now=NOW, event_id="ev1")
    unbookable = Intent(dataclasses.replace(s3, reason="no room"), "no room")
    added = store.add_sessions(
        [Intent(s1, "planned"), Intent(s2, "planned"), unbookable, Intent(s2, "again")],
        now=NOW,
    )
    assert added == {s2.key, s3.key}
    got = store.get_many([s1.key, s2.key, s3.key, "cp-missing"])
    assert set(got) == {s1.key, s2.key, s3.key}
    assert got[s1.key].state is SessionState.BOOKED, "an existing key is left as it is"
    assert got[s1.key].event_id == "ev1"
    assert got[s2.key].start == s2.start and got[s2.key].start.tzinfo is not None
    assert got[s3.key].reason == "no room"
    assert _history(store, s1.key) == [(None, "planned", "planned"), ("planned", "booked", "")]
    assert _history(store, s2.key) == [(None, "planned", "planned")], "the first of a key given"
    assert _history(store, s3.key) == [(None, "planned", "no room")]
    assert store.add_sessions([], now=NOW) == set()


def test_add_sessions_goes_key_by_key_when_another_process_inserted_first(
    store: Store, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the look at the keys and the insert, another process inserts one of
    them (possible on PostgreSQL): the insert fails as a whole, and each key is then
    inserted on its own, inside the caller's batch, which keeps its other writes."""
    s1, s2, s3 = _record("s1"), _record("s2"), _record("s3")
    store.add_session(s3, now=NOW)
    real = session_writes.existing_keys

    def look_then_lose_the_race(conn, keys):  # type: ignore[no-untyped-def]
        found = real(conn, keys)
        if s1.key in keys and len(keys) > 1:
            other.add_session(s1, now=NOW, detail="the other process")
        return found

    monkeypatch.setattr(session_writes, "existing_keys", look_then_lose_the_race)
    if store.engine.dialect.name == "sqlite":
        # SQLite's write lock (BEGIN IMMEDIATE) keeps the other process out until
        # the batch commits: simulate a look that missed the key instead.
        other.add_session(s1, now=NOW, detail="the other process")
        monkeypatch.setattr(session_writes, "existing_keys", lambda _conn, _keys: set())
    with store.batch():
        store.set_fields(s3.key, now=NOW, note="kept")
        added = store.add_sessions([Intent(s1, "planned"), Intent(s2, "planned")], now=NOW)
    assert added == {s2.key}
    assert _history(store, s1.key) == [(None, "planned", "the other process")]
    assert _history(store, s2.key) == [(None, "planned", "planned")]
    assert store.get(s3.key).note == "kept"  # type: ignore[union-attr]


def test_processes_adding_the_same_intents_at_once_insert_each_once(
    store_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = [_record(f"s{i}") for i in range(10)]
    own = [[_record(f"p{n}s{i}") for i in range(10)] for n in range(3)]
    records = shared + [r for rs in own for r in rs]
    stores = [Store.open(store_url, migrate=False) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    if store.engine.dialect.name == "postgresql":
        # All look at the keys before any inserts: every process then races for
        # keys another one is inserting. (SQLite's write lock lets one at a time in.)
        real = session_writes.existing_keys
        looked = threading.Barrier(len(stores))

        def look_together(conn, keys):  # type: ignore[no-untyped-def]
            found = real(conn, keys)
            if len(keys) > 1:
                looked.wait(timeout=30)
            return found

        monkeypatch.setattr(session_writes, "existing_keys", look_together)
    added: list[set[str]] = []

    def add(s: Store, n: int) -> None:
        # Keys every process adds, and keys of its own: one that loses the race for
        # a shared key must still insert its own.
        mine = shared[n * 3 :] + own[n] + shared[: n * 3]
        barrier.wait()
        added.append(s.add_sessions([Intent(r, "planned") for r in mine], now=NOW))

    threads = [threading.Thread(target=add, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert len(added) == len(stores), "every process finished (no deadlock, no error)"
    counts = Counter(k for keys in added for k in keys)
    assert counts == Counter({r.key: 1 for r in records}), "each key inserted by one of them"
    history = Counter(h.key for h in store.history(keys=[r.key for r in records]))
    assert set(history.values()) == {1}


def test_transition_many_compares_and_sets_each_key(store: Store, other: Store) -> None:
    s1, s2, s3 = _record("s1"), _record("s2"), _record("s3")
    store.add_sessions([Intent(r, "planned") for r in (s1, s2, s3)], now=NOW)
    # An admin (another process) cancels s2 while its create is on the way.
    assert other.transition(s2.key, SessionState.CANCELLED, now=NOW, detail="by an admin")
    later = NOW + timedelta(minutes=1)
    moved = store.transition_many(
        [_booked(s1.key, "ev1"), _booked(s2.key, "ev2"), _booked(s3.key, "ev3")], now=later
    )
    assert moved == {s1.key, s3.key}
    got = store.get_many([s1.key, s2.key, s3.key])
    assert (got[s1.key].state, got[s1.key].event_id) == (SessionState.BOOKED, "ev1")
    assert (got[s3.key].state, got[s3.key].event_id) == (SessionState.BOOKED, "ev3")
    assert (got[s2.key].state, got[s2.key].event_id) == (SessionState.CANCELLED, None)
    assert _history(store, s1.key) == [
        (None, "planned", "planned"),
        ("planned", "booked", "created in local"),
    ]
    assert _history(store, s2.key)[-1] == ("planned", "cancelled", "by an admin")
    assert store.transition_many([], now=NOW) == set()


def test_transition_many_sets_each_moves_own_fields_and_history_rule(store: Store) -> None:
    """Moves with different fields in one call; as `transition`: no history entry for
    a move that changes neither the state nor says why."""
    s1, s2, s3 = _record("s1"), _record("s2"), _record("s3")
    store.add_sessions([Intent(r, "planned") for r in (s1, s2, s3)], now=NOW)
    new_start = datetime(2030, 5, 8, 13, 0, tzinfo=UTC)
    moved = store.transition_many(
        [
            Move(s1.key, SessionState.PLANNED, fields={"note": "same state, no detail"}),
            Move(
                s2.key,
                SessionState.RESCHEDULED,
                "moved",
                fields={"start": new_start, "end": new_start + timedelta(minutes=45)},
            ),
            Move(s3.key, SessionState.UNBOOKABLE, "no room", fields={"reason": "no room"}),
        ],
        now=NOW,
    )
    assert moved == {s1.key, s2.key, s3.key}
    got = store.get_many([s1.key, s2.key, s3.key])
    assert got[s1.key].note == "same state, no detail" and got[s1.key].start == s1.start
    assert got[s2.key].state is SessionState.RESCHEDULED and got[s2.key].start == new_start
    assert got[s2.key].note == ""
    assert (got[s3.key].state, got[s3.key].reason) == (SessionState.UNBOOKABLE, "no room")
    assert len(_history(store, s1.key)) == 1
    assert _history(store, s2.key)[-1] == ("planned", "rescheduled", "moved")


def test_transition_many_of_an_unknown_key_writes_nothing(store: Store) -> None:
    s1 = _record("s1")
    store.add_session(s1, now=NOW)
    with pytest.raises(KeyError):
        store.transition_many([_booked(s1.key, "ev1"), _booked("cp-unknown", "ev2")], now=NOW)
    with pytest.raises(ValueError, match="one move per session"):
        store.transition_many([_booked(s1.key, "ev1"), _booked(s1.key, "ev2")], now=NOW)
    with pytest.raises(TypeError, match="not updatable"):
        store.transition_many([Move(s1.key, SessionState.BOOKED, fields={"key": "x"})], now=NOW)
    assert store.get(s1.key).state is SessionState.PLANNED  # type: ignore[union-attr]
    assert len(_history(store, s1.key)) == 1


def test_processes_booking_the_same_sessions_at_once_book_each_once(
    store_url: str, store: Store
) -> None:
    """Two bookers record the results of the same creates at once: each session
    moves once (the other one's compare-and-set refuses), never twice."""
    records = [_record(f"s{i}") for i in range(30)]
    store.add_sessions([Intent(r, "planned") for r in records], now=NOW)
    stores = [Store.open(store_url, migrate=False) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    moved: dict[int, set[str]] = {}

    def book(n: int, s: Store) -> None:
        mine = records[n * 10 :] + records[: n * 10]
        barrier.wait()
        moved[n] = s.transition_many([_booked(r.key, f"ev{n}") for r in mine], now=NOW)

    threads = [threading.Thread(target=book, args=(n, s)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert len(moved) == len(stores), "every process finished (no deadlock, no error)"
    counts = Counter(k for keys in moved.values() for k in keys)
    assert counts == Counter({r.key: 1 for r in records})
    got = store.get_many([r.key for r in records])
    for n, keys in moved.items():
        assert {got[k].event_id for k in keys} <= {f"ev{n}"}, "the winner's event id stands"
    booked = Counter(
        h.key
        for h in store.history(keys=[r.key for r in records])
        if h.to_state is SessionState.BOOKED
    )
    assert set(booked.values()) == {1}


def test_many_keys_are_read_and_written_in_slices(store: Store) -> None:
    records = [_record(f"s{i}") for i in range(session_writes.CHUNK * 2 + 7)]
    keys = [r.key for r in records]
    assert store.add_sessions([Intent(r, "planned") for r in records], now=NOW) == set(keys)
    assert store.add_sessions([Intent(r, "planned") for r in records], now=NOW) == set()
    assert len(store.get_many(keys)) == len(keys)
    assert store.transition_many([_booked(k, "ev") for k in keys], now=NOW) == set(keys)
    store.set_fields_many(keys, now=NOW, reason="checked")
    assert {r.reason for r in store.get_many(keys).values()} == {"checked"}
    assert {r.state for r in store.get_many(keys).values()} == {SessionState.BOOKED}


def test_set_fields_many_sets_the_same_fields_on_each_key_only(store: Store) -> None:
    s1, s2, s3 = _record("s1"), _record("s2"), _record("s3")
    store.add_sessions([Intent(r, "planned") for r in (s1, s2, s3)], now=NOW)
    store.set_fields_many([s1.key, s2.key], now=NOW, reason="outcome unknown")
    got = store.get_many([s1.key, s2.key, s3.key])
    assert [got[k].reason for k in (s1.key, s2.key, s3.key)] == ["outcome unknown"] * 2 + [""]
    assert [got[k].state for k in got] == [SessionState.PLANNED] * 3, "no state change"
    with pytest.raises(TypeError, match="not updatable"):
        store.set_fields_many([s1.key], now=NOW, state="booked")
    with pytest.raises(Exception, match="naive"):
        store.set_fields_many([s1.key], now=NOW, start=datetime(2030, 5, 7, 9, 0))


@pytest.mark.parametrize(
    "write",
    [
        lambda s, r: s.add_sessions([Intent(_record("s9"), "planned")], now=NOW),
        lambda s, r: s.transition_many([_booked(r.key, "ev1")], now=NOW),
        lambda s, r: s.set_fields_many([r.key], now=NOW, reason="x"),
    ],
    ids=["add_sessions", "transition_many", "set_fields_many"],
)
def test_the_fence_is_checked_before_every_batched_write(
    store: Store, write: Callable[[Store, SessionRecord], object]
) -> None:
    s1 = _record("s1")
    store.add_session(s1, now=NOW)

    def deposed() -> None:
        raise StoreError("lost the lock")

    store.fence = deposed
    with pytest.raises(StoreError, match="lost the lock"), store.batch():
        write(store, s1)
    store.fence = None
    assert store.get(_record("s9").key) is None
    got = store.get(s1.key)
    assert got is not None and (got.state, got.reason) == (SessionState.PLANNED, "")
