"""Booking on real local calendars: idempotent re-runs and crash repair."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.orgs import count_tagged, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def rt(tmp_path: Path):  # type: ignore[no-untyped-def]
    runtime = Runtime.open(load_settings(write_org(tmp_path, sellers=4)))
    yield runtime
    runtime.close()


def _events(rt: Runtime) -> dict[str, int]:
    cal = rt.settings.base_dir / "calendars" / "boss.ics"
    return {r.key: count_tagged(cal, r.key) for r in rt.store.sessions(month=MONTH)}


def test_book_then_rebook_creates_nothing_new(rt: Runtime) -> None:
    first = book_month(rt, MONTH, NOW)
    assert first.created == 4 and not first.failed and not first.unbookable
    outbox = sorted((rt.settings.base_dir / "outbox").glob("*.eml"))
    again = book_month(rt, MONTH, NOW)
    assert again.created == 0 and again.adopted == 0
    assert sorted((rt.settings.base_dir / "outbox").glob("*.eml")) == outbox, "no second invite"
    assert _events(rt) == {r.key: 1 for r in rt.store.sessions(month=MONTH)}
    states = {r.state for r in rt.store.sessions(month=MONTH)}
    assert states == {SessionState.BOOKED}
    # Every seller's own calendar shows the session too (busy for later plans).
    for i in range(1, 5):
        text = (rt.settings.base_dir / "calendars" / f"s{i}.ics").read_text()
        assert "X-COACHPASS-SESSION" in text


def test_crash_after_intent_before_calendar_is_repaired(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = rt.connector("local")

    def crash(_events: object) -> list[object]:
        raise RuntimeError("process killed")

    monkeypatch.setattr(conn, "create", crash)
    with pytest.raises(RuntimeError):
        book_month(rt, MONTH, NOW)
    planned = rt.store.sessions(month=MONTH)
    assert len(planned) == 4 and {r.state for r in planned} == {SessionState.PLANNED}
    assert set(_events(rt).values()) == {0}
    monkeypatch.undo()
    repaired = book_month(rt, MONTH, NOW)
    assert repaired.created == 4
    assert set(_events(rt).values()) == {1}
    # The slots are the ones recorded before the crash, not a new plan.
    assert {(r.key, r.start) for r in rt.store.sessions(month=MONTH)} == {
        (r.key, r.start) for r in planned
    }


def test_crash_after_calendar_before_store_is_adopted(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = rt.connector("local")
    real_create = conn.create

    seen: list[bool] = []

    def create_then_die(events):  # type: ignore[no-untyped-def]
        seen.extend(e.may_exist for e in events)
        real_create(events)
        raise RuntimeError("killed after the calendar write")

    monkeypatch.setattr(conn, "create", create_then_die)
    with pytest.raises(RuntimeError):
        book_month(rt, MONTH, NOW)
    assert seen == [False] * 4, "a first send is vouched for: no look-up needed"
    assert set(_events(rt).values()) == {1}
    assert {r.state for r in rt.store.sessions(month=MONTH)} == {SessionState.PLANNED}
    monkeypatch.undo()

    def record(events):  # type: ignore[no-untyped-def]
        seen.extend(e.may_exist for e in events)
        return real_create(events)

    monkeypatch.setattr(conn, "create", record)
    repaired = book_month(rt, MONTH, NOW)
    assert seen[4:] == [True] * 4, "after a crash the events may exist: look first"
    assert repaired.adopted == 4 and repaired.created == 0
    assert set(_events(rt).values()) == {1}, "adopted, never a second event"
    assert {r.state for r in rt.store.sessions(month=MONTH)} == {SessionState.BOOKED}


def test_booked_slots_respect_each_other_and_working_hours(rt: Runtime) -> None:
    book_month(rt, MONTH, NOW)
    sessions = sorted(rt.store.sessions(month=MONTH), key=lambda r: r.start)  # type: ignore[arg-type,return-value]
    for a, b in itertools.pairwise(sessions):
        assert a.end is not None and b.start is not None and a.end <= b.start
    from zoneinfo import ZoneInfo

    for r in sessions:
        assert r.start is not None and r.end is not None
        local = r.start.astimezone(ZoneInfo("Europe/Stockholm"))
        assert (
            local.weekday() < 5
            and local.hour >= 9
            and r.end.astimezone(ZoneInfo("Europe/Stockholm")).time()
            <= datetime(2000, 1, 1, 17, 0).time()
        )
        assert r.start >= NOW


def test_next_months_agenda_carries_the_followups(rt: Runtime) -> None:
    import icalendar

    from scheduler.sessions.actions import mark_session
    from scheduler.sessions.reconcile import reconcile

    book_month(rt, MONTH, NOW)
    reconcile(rt, datetime(2031, 4, 1, 6, 0, tzinfo=UTC))
    mark_session(
        rt,
        "s2",
        SessionState.HELD,
        now=datetime(2031, 4, 1, 7, 0, tzinfo=UTC),
        month=MONTH,
        followups="Call the CFO of Nordbank before the 10th",
    )
    april = Month(2031, 4)
    book_month(rt, april, datetime(2031, 4, 1, 8, 0, tzinfo=UTC))
    key = next(r.key for r in rt.store.sessions(month=april) if r.seller_id == "s2")
    cal = icalendar.Calendar.from_ical(
        (rt.settings.base_dir / "calendars" / "boss.ics").read_bytes()
    )
    event = next(ev for ev in cal.walk("VEVENT") if str(ev.get("X-COACHPASS-SESSION")) == key)
    assert "Call the CFO of Nordbank" in str(event["DESCRIPTION"])
    other = next(r.key for r in rt.store.sessions(month=april) if r.seller_id == "s3")
    event3 = next(ev for ev in cal.walk("VEVENT") if str(ev.get("X-COACHPASS-SESSION")) == other)
    assert "Nordbank" not in str(event3["DESCRIPTION"])
