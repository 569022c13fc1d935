"""Booking and reconcile on the I/O pool, against the fake Calendar API: the same
calendars and store whatever the pool size, a 429 slows every worker, and one
organiser's failure stays that organiser's (listed), while the others are booked.
"""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)
import gc
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import SESSION_TAG, Attendee, CalendarRef, ConnectorError, NewEvent
from connectors.google import connector as google_connector
from scheduler.errors import UserError
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions import booking as booking_module
from scheduler.sessions import reconcile as reconcile_module
from scheduler.sessions.booking import book_month
from scheduler.sessions.pool import _Later, answered_in_runs, in_order, workers_for
from scheduler.sessions.reconcile import reconcile
from scheduler.sessions.units import create_units
from scheduler.settings.load import load_settings
from scheduler.store.store import Store
from tests.fakes.google_faults import Fault
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.orgs import person, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
TEAMS = 6
SELLERS = 3


def _people(team: int) -> list[dict[str, Any]]:
    ids = [f"m{team}"] + [f"m{team}s{s}" for s in range(SELLERS)]
    return [{**person(p), "calendar": f"{p}@example.com"} for p in ids]


def _runtime(
    fake: FakeGoogle,
    key_file: Path,
    folder: Path,
    workers: int,
    *,
    missing: str = "",
    count: int = TEAMS,
) -> Runtime:
    """`count` teams on Google with `workers`; `missing` is left out of the domain."""
    folder.mkdir(parents=True, exist_ok=True)
    teams = []
    for t in range(count):
        people = _people(t)
        for p in people:
            if p["id"] != missing:
                fake.add_user(p["email"])
        teams.append(
            {"id": f"t{t}", "name": f"Team {t}", "manager": people[0], "sellers": people[1:]}
        )
    options = connector_options(fake, key_file, workers=workers)
    path = write_org(
        folder,
        extra={
            "defaults": {"connector": "google"},
            "teams": teams,
            "connectors": {"google": options},
        },
    )
    return Runtime.open(load_settings(path))


def _calendars(
    fake: FakeGoogle, skip: int | None = None
) -> dict[str, list[tuple[str, str, str, str, str]]]:
    """What the fake holds: per manager, each Coachpass event's id, times, status and
    attendees (the calendars, not our store)."""
    out = {}
    for t in range(TEAMS):
        if t == skip:
            continue
        manager = f"m{t}@example.com"
        out[manager] = sorted(
            (
                e["id"],
                e["start"]["dateTime"],
                e["end"]["dateTime"],
                e.get("status", ""),
                ",".join(a["email"] for a in e.get("attendees", [])),
            )
            for e in fake.store.events(manager)
            if e.get("extendedProperties", {}).get("private", {}).get(SESSION_TAG)
        )
    return out


def _store(rt: Runtime) -> list[tuple[str, str, str, str]]:
    return sorted(
        (r.key, r.state.value, str(r.start), r.event_id or "") for r in rt.store.sessions()
    )


@pytest.fixture
def runs(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> Iterator[list[Runtime]]:
    opened: list[Runtime] = []
    yield opened
    for rt in opened:
        rt.close()


def test_a_pool_of_eight_books_and_reconciles_as_a_pool_of_one(
    fake: FakeGoogle,
    google_key_file: Path,
    tmp_path: Path,
    runs: list[Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []  # HTTP connection pools the Google connector opened
    original = google_connector.http_transport
    monkeypatch.setattr(
        google_connector, "http_transport", lambda *a: made.append(1) or original(*a)
    )
    seen = []
    for workers in (1, 8):
        fake.reset()
        rt = _runtime(fake, google_key_file, tmp_path / f"w{workers}", workers)
        runs.append(rt)
        summary = book_month(rt, MONTH, NOW)
        assert summary.created == TEAMS * SELLERS and not summary.failures()
        # Then one change per team in the calendar: the seller of the first
        # session declines; reconcile (parallel reads) must see each of them.
        for t in range(TEAMS):
            first = _calendars(fake)[f"m{t}@example.com"][0]
            fake.store.respond(f"m{t}@example.com", first[0], first[4], "declined")
        result = reconcile(rt, NOW)
        assert result.calendars_read == TEAMS and not result.errors
        declined = [t for t in result.transitions if t.to_state is SessionState.DECLINED]
        assert len(declined) == TEAMS
        seen.append((_calendars(fake), _store(rt), [t.key for t in result.transitions]))
        # The pool's threads are gone, and their HTTP connection pools with them
        # (a service starts new pools every run: they must not pile up).
        gc.collect()
        assert len(rt.connector("google").inner._others) == 0  # type: ignore[attr-defined]
        # The opener's pool, then (with 8) one per thread of each run's pools.
        assert (len(made) == 1) == (workers == 1)
        made.clear()
    assert seen[0] == seen[1]
    assert all(len(events) == SELLERS for events in seen[1][0].values())


def test_a_429_on_one_worker_holds_back_the_others(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path, runs: list[Runtime]
) -> None:
    rt = _runtime(fake, google_key_file, tmp_path, 4, count=12)
    runs.append(rt)
    arrivals: list[float] = []
    throttled: list[float] = []
    count = fake.count

    def counting(key: str, n: int = 1) -> None:
        if key == "api":
            arrivals.append(time.monotonic())
        count(key, n)

    fault_for = fake.faults.fault_for

    def faulting(call: str) -> Fault | None:
        fault = fault_for(call)
        if fault is not None:
            throttled.append(time.monotonic())
        return fault

    fake.count = counting  # type: ignore[method-assign]
    fake.faults.fault_for = faulting  # type: ignore[method-assign]
    # Every request takes 0.1 s, as on a network: without the hold the three other
    # workers would keep sending through the whole second after the 429.
    fake.faults.slow_seconds = 0.1
    fake.faults.fail_next(Fault(429, "rateLimitExceeded", "Rate Limit Exceeded", 1), match="/batch")
    try:
        summary = book_month(rt, MONTH, NOW)
    finally:
        del fake.count, fake.faults.fault_for
    assert summary.created == 12 * SELLERS and not summary.failures()
    assert len(throttled) == 1
    # Requests already on their way when the 429 went out land within one latency;
    # after that nobody asks until Retry-After (1 s) has passed.
    window = [t for t in arrivals if throttled[0] + 0.25 < t < throttled[0] + 0.9]
    later = [t for t in arrivals if t >= throttled[0] + 0.9]
    assert window == []
    assert later  # the work went on after the hold


def test_one_organiser_failing_is_listed_and_the_others_are_booked(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path, runs: list[Runtime]
) -> None:
    # m2 is not a user of the domain: nobody can act as m2. The group that m2 was
    # asked to read is read again team by team, so only team t2 fails.
    rt = _runtime(fake, google_key_file, tmp_path, 8, missing="m2")
    runs.append(rt)
    summary = book_month(rt, MONTH, NOW)
    assert [f.team_id for f in summary.failed_teams] == ["t2"]
    assert "m2@example.com" in summary.failures()[0]
    assert summary.created == (TEAMS - 1) * SELLERS
    calendars = _calendars(fake, skip=2)
    assert all(len(calendars[f"m{t}@example.com"]) == SELLERS for t in range(TEAMS) if t != 2)


def test_a_refused_create_call_fails_its_organiser_alone(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path, runs: list[Runtime]
) -> None:
    rt = _runtime(fake, google_key_file, tmp_path, 8)
    runs.append(rt)
    fake.faults.fail_next(Fault(400, "badRequest", "Bad Request"), match="/batch")
    summary = book_month(rt, MONTH, NOW)
    assert len(summary.failed) == SELLERS  # one organiser's batch, each session listed
    assert len({key.split("-")[0] for key, _ in summary.failed}) >= 1
    assert summary.created == (TEAMS - 1) * SELLERS
    again = book_month(rt, MONTH, NOW)  # the next book creates what failed
    assert again.created == SELLERS and not again.failures()


def test_reconcile_never_holds_the_store_while_it_awaits_a_read(
    fake: FakeGoogle,
    google_key_file: Path,
    tmp_path: Path,
    runs: list[Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reads already in share one transaction; one still on its way is awaited with
    nothing open: another process can write the store meanwhile (SQLite has one
    writer: a transaction held over the wait would lock it out)."""
    rt = _runtime(fake, google_key_file, tmp_path, 4)
    runs.append(rt)
    book_month(rt, MONTH, NOW)
    for t in range(TEAMS):  # something to record for every organiser
        first = _calendars(fake)[f"m{t}@example.com"][0]
        fake.store.respond(f"m{t}@example.com", first[0], first[4], "declined")
    real = reconcile_module._read_organiser
    waited: list[float] = []

    def read(*args: Any) -> Any:
        answer = real(*args)
        if args[-1].manager.id == "m3":
            other = Store.open(rt.store.url, migrate=False)
            try:
                began = time.monotonic()
                other.claim_job("probe", "now", owner="another process", now=NOW)
                waited.append(time.monotonic() - began)
            finally:
                other.close()
        return answer

    monkeypatch.setattr(reconcile_module, "_read_organiser", read)
    result = reconcile(rt, NOW)
    assert len(waited) == 1 and waited[0] < 10, waited
    assert not result.errors
    assert len([t for t in result.transitions if t.to_state is SessionState.DECLINED]) == TEAMS


def test_book_never_holds_the_store_while_it_awaits_a_create_call(
    fake: FakeGoogle,
    google_key_file: Path,
    tmp_path: Path,
    runs: list[Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As for reconcile: the answers of create calls already in share a transaction,
    and a call still on its way is awaited with nothing open."""
    rt = _runtime(fake, google_key_file, tmp_path, 4)
    runs.append(rt)
    real = booking_module._create_call
    waited: list[float] = []

    def create(connector: Any, unit: Any) -> Any:
        answer = real(connector, unit)
        if unit[0][0].manager_id == "m3":
            other = Store.open(rt.store.url, migrate=False)
            try:
                began = time.monotonic()
                other.claim_job("probe", "now", owner="another process", now=NOW)
                waited.append(time.monotonic() - began)
            finally:
                other.close()
        return answer

    monkeypatch.setattr(booking_module, "_create_call", create)
    summary = book_month(rt, MONTH, NOW)
    assert len(waited) == 1 and waited[0] < 10, waited
    assert summary.created == TEAMS * SELLERS and not summary.failures()
    assert {r.state for r in rt.store.sessions()} == {SessionState.BOOKED}


def test_answers_come_in_runs_that_end_before_one_not_in_yet() -> None:
    def done(value: object) -> Future[object]:
        future: Future[object] = Future()
        future.set_result(value)
        return future

    def failed(exc: Exception) -> Future[object]:
        future: Future[object] = Future()
        future.set_exception(exc)
        return future

    def later(value: object) -> Any:  # a pool of one: worked out when asked
        return _Later(lambda: value)

    refused = ConnectorError("refused")
    pairs = [
        ("a", done(1)),
        ("b", failed(refused)),
        ("c", later(3)),  # not in yet: a run ends before it
        ("d", done(4)),
        ("e", done(5)),
        ("f", done(6)),  # the limit ends a run too
    ]
    runs = list(answered_in_runs(pairs, ConnectorError, 3))
    assert runs == [[("a", 1), ("b", refused)], [("c", 3), ("d", 4), ("e", 5)], [("f", 6)]]
    # Anything but `catch` ends the runs, after the one before it.
    broken = [("a", done(1)), ("b", failed(RuntimeError("bug"))), ("c", done(3))]
    got = answered_in_runs(broken, ConnectorError, 10)
    assert next(got) == [("a", 1)]
    with pytest.raises(RuntimeError, match="bug"):
        next(got)


def test_pool_sizes_come_from_the_connector_options() -> None:
    assert workers_for("google", {}) == 16 and workers_for("outlook", None) == 16
    assert workers_for("local", {}) == 1
    assert workers_for("google", {"workers": 3}) == 3
    for bad in (0, 65, "8", True):
        with pytest.raises(UserError, match="workers must be a whole number"):
            workers_for("google", {"workers": bad})


def test_results_come_back_in_the_order_given_and_errors_on_the_callers_thread() -> None:
    def work(n: int) -> int:
        time.sleep(0.01 * (5 - n))  # later items finish first
        if n == 3:
            raise ValueError("three")
        return n * 10

    got: list[tuple[int, object]] = []
    for item, handle in in_order(work, list(range(5)), 4):
        try:
            got.append((item, handle.result()))
        except ValueError as exc:
            got.append((item, str(exc)))
    assert got == [(0, 0), (1, 10), (2, 20), (3, "three"), (4, 40)]


def _unit_items(sizes: dict[str, int]) -> list[tuple[str, NewEvent]]:
    """`sizes[organiser]` sessions of each organiser, in order."""
    start = datetime(2031, 3, 3, 9, tzinfo=UTC)
    out = []
    for org, count in sizes.items():
        ref = CalendarRef(org, f"{org}@x.com", f"{org}@x.com", "UTC")
        for n in range(count):
            event = NewEvent(f"{org}{n}", ref, (Attendee("s@x.com"),), start, start, "C", "")
            out.append((f"{org}-{n}", event))
    return out


def _organisers(unit: list[tuple[str, NewEvent]]) -> list[str]:
    return list(dict.fromkeys(e.organizer.person_id for _, e in unit))


def test_create_units_never_split_an_organiser() -> None:
    items = _unit_items({"a": 30, "b": 30, "c": 30})
    assert [len(u) for u in create_units("outlook", items)] == [90]  # none is a multiple of 20
    units = create_units("google", items)
    assert [_organisers(u) for u in units] == [["a"], ["b"], ["c"]]
    assert create_units("local", items) == [items]


def test_outlook_create_units_fill_every_batch_of_every_phase() -> None:
    # 700 organisers of 15: 90-session calls left a 10-part batch in every phase
    # (2,216 batches with two files where 2,100 carry the parts); 120 fill them all.
    items = _unit_items({f"m{m}": 15 for m in range(700)})
    units = create_units("outlook", items)
    assert [len(u) for u in units] == [120] * 87 + [60]
    assert [i for u in units for i in u] == items  # in order, nothing lost or repeated
    phases = [1, 2, 1]  # create, two files, the inviting PATCH: parts per session
    batches = sum(-(-len(u) * k // 20) for u in units for k in phases)
    assert batches == 10_500 * 4 // 20


def test_outlook_create_units_of_uneven_teams_waste_the_least_within_the_bounds() -> None:
    sizes = [13, 12, 14, 11, 15, 13, 12, 10, 9, 14, 13, 7, 15, 15, 12, 11, 14, 13, 9, 8] * 5
    items = _unit_items({f"m{n}": size for n, size in enumerate(sizes)})
    units = create_units("outlook", items)
    assert [i for u in units for i in u] == items
    seen: set[str] = set()
    for unit in units:
        organisers = _organisers(unit)
        assert not seen & set(organisers)  # an organiser's sessions are in one call
        seen |= set(organisers)
    for unit in units[:-1]:
        assert 80 <= len(unit) < 160 + 15
    # Each call closes at a multiple of 20 where one comes by 160 sessions: few
    # part-full batches in all.
    part_full = sum(1 for u in units if len(u) % 20)
    assert part_full <= 2, [len(u) for u in units]
