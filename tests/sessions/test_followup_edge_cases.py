"""What the calendars and the clock can do to sessions beyond the plain cases: time
zones east of UTC, unreadable calendars, re-accepted declines, crashes around
cancellation, slots that pass before the invitation goes out, sessions moved into
another month. Each test pins one behaviour a review found broken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from scheduler.model import SLOT_PASSED, Month, SessionRecord, SessionState
from scheduler.runtime import Runtime
from scheduler.service.jobs import period_of, reconcile_and_rebook, top_up
from scheduler.service.serve import catch_up
from scheduler.sessions.actions import cancel_session, find_session, mark_session
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings
from tests.orgs import count_tagged, write_org

MARCH, APRIL = Month(2031, 3), Month(2031, 4)
BOOKED_AT = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


def _rt(tmp_path: Path, **kwargs) -> Runtime:  # type: ignore[no-untyped-def]
    return Runtime.open(load_settings(write_org(tmp_path, **kwargs)))


def _boss(rt: Runtime) -> Path:
    return rt.settings.base_dir / "calendars" / "boss.ics"


def _edit(rt: Runtime, key: str, change) -> None:  # type: ignore[no-untyped-def]
    cal = icalendar.Calendar.from_ical(_boss(rt).read_bytes())
    for ev in cal.walk("VEVENT"):
        if str(ev.get("X-COACHPASS-SESSION", "")) == key:
            change(ev)
            seq = int(ev.get("SEQUENCE", 0)) + 1
            ev.pop("SEQUENCE", None)
            ev.add("SEQUENCE", seq)
    _boss(rt).write_bytes(cal.to_ical())


def _partstat(value: str):  # type: ignore[no-untyped-def]
    def change(ev):  # type: ignore[no-untyped-def]
        ev["ATTENDEE"].params["PARTSTAT"] = value

    return change


def _move(start: datetime, end: datetime):  # type: ignore[no-untyped-def]
    def change(ev):  # type: ignore[no-untyped-def]
        for name in ("DTSTART", "DTEND"):
            ev.pop(name)
        ev.add("DTSTART", start)
        ev.add("DTEND", end)

    return change


def _status(rt: Runtime, key: str) -> list[str]:
    cal = icalendar.Calendar.from_ical(_boss(rt).read_bytes())
    return [
        str(ev.get("STATUS"))
        for ev in cal.walk("VEVENT")
        if str(ev.get("X-COACHPASS-SESSION", "")) == key
    ]


def _first(rt: Runtime, seller: str = "s1", month: Month = MARCH) -> SessionRecord:
    return next(r for r in rt.store.sessions(month=month, seller_id=seller) if r.attempt == 1)


# -- time zones east of UTC ---------------------------------------------------


def test_periods_are_read_in_the_schedule_zone() -> None:
    # 08:00 on 1 April in Sydney is still 31 March in UTC.
    fired = datetime(2031, 3, 31, 21, 0, tzinfo=UTC)
    assert period_of("report", fired, "Australia/Sydney") == "2031-03"
    assert period_of("report", fired, "UTC") == "2031-02"
    assert period_of("top_up", fired, "Australia/Sydney") == "2031-04-01"
    assert period_of("book_next_month", fired, "Australia/Sydney") == "2031-05"


def test_top_up_books_the_organisations_current_month(tmp_path: Path) -> None:
    rt = _rt(
        tmp_path,
        sellers=1,
        extra={
            "organisation": {
                "id": "acme",
                "name": "Acme",
                "timezone": "Australia/Sydney",
                "country": "AU",
                "language": "en",
            },
            "schedule": {"timezone": "Australia/Sydney"},
        },
    )
    try:
        # 07:00 on 1 April in Sydney: top-up must book April and May, not March.
        summaries = top_up(rt, datetime(2031, 3, 31, 20, 0, tzinfo=UTC))
        assert [s.month for s in summaries] == [APRIL, Month(2031, 5)]
        assert rt.store.sessions(month=MARCH) == []
    finally:
        rt.close()


# -- an unreadable calendar ----------------------------------------------------


def test_one_unreadable_calendar_stops_neither_reconcile_nor_the_service(tmp_path: Path) -> None:
    rt = _rt(tmp_path, sellers=2)
    try:
        book_month(rt, MARCH, BOOKED_AT)
        _boss(rt).rename(_boss(rt).with_suffix(".gone"))
        after = datetime(2031, 4, 2, 6, 0, tzinfo=UTC)
        summary = reconcile(rt, after)
        assert summary.errors and "boss" in summary.errors[0]
        # Nobody looked at the calendar: the sessions are not presumed held.
        assert {r.state for r in rt.store.sessions(month=MARCH)} == {SessionState.BOOKED}
        results = {r.job: r for r in catch_up(rt, after, lambda _m: None)}
        assert results["report"].ran, "the report still goes out"
        # Booking April ran, and is recorded failed (the catch-up retries it) with
        # the unread calendar named: a partial run is never recorded as done.
        runs = {(r["job"], r["period"]): r for r in rt.store.job_runs()}
        april = runs[("book_next_month", "2031-04")]
        assert not results["book_next_month"].ran
        assert april["status"] == "failed" and "boss" in april["detail"]
    finally:
        rt.close()


# -- declines ----------------------------------------------------------------


def test_a_seller_who_accepts_again_is_booked_again(tmp_path: Path) -> None:
    rt = _rt(tmp_path, sellers=1, policy={"rebook_on_decline": False})
    try:
        book_month(rt, MARCH, BOOKED_AT)
        rec = _first(rt)
        _edit(rt, rec.key, _partstat("DECLINED"))
        reconcile(rt, datetime(2031, 3, 1, 6, tzinfo=UTC))
        assert rt.store.get(rec.key).state is SessionState.DECLINED  # type: ignore[union-attr]
        _edit(rt, rec.key, _partstat("ACCEPTED"))
        reconcile(rt, datetime(2031, 3, 1, 7, tzinfo=UTC))
        assert rt.store.get(rec.key).state is SessionState.BOOKED  # type: ignore[union-attr]
        reconcile(rt, rec.end + timedelta(hours=1))  # type: ignore[operator]
        assert rt.store.get(rec.key).state is SessionState.HELD  # type: ignore[union-attr]
    finally:
        rt.close()


def test_a_rebook_cancels_the_declined_event(tmp_path: Path) -> None:
    rt = _rt(tmp_path, sellers=1)
    try:
        book_month(rt, MARCH, BOOKED_AT)
        rec = _first(rt)
        _edit(rt, rec.key, _partstat("DECLINED"))
        _, rebooked = reconcile_and_rebook(rt, datetime(2031, 3, 1, 6, tzinfo=UTC))
        assert rebooked == 1
        assert _status(rt, rec.key) == ["CANCELLED"], "one live session per seller"
        live = [r for r in rt.store.sessions(month=MARCH) if r.state is SessionState.BOOKED]
        assert len(live) == 1 and live[0].attempt == 2
        assert _status(rt, live[0].key) == ["CONFIRMED"]
    finally:
        rt.close()


def test_a_late_decline_with_no_room_is_not_unbookable(tmp_path: Path) -> None:
    rt = _rt(tmp_path, sellers=1, policy={"latest_day": 28})
    try:
        book_month(rt, MARCH, datetime(2031, 3, 20, 8, tzinfo=UTC))
        rec = _first(rt)
        _edit(rt, rec.key, _partstat("DECLINED"))
        reconcile_and_rebook(rt, datetime(2031, 3, 27, 20, tzinfo=UTC))
        states = [(r.attempt, r.state) for r in rt.store.sessions(month=MARCH)]
        assert states == [(1, SessionState.DECLINED)]
    finally:
        rt.close()


def test_moved_and_declined_in_one_read_keeps_the_move(tmp_path: Path) -> None:
    rt = _rt(tmp_path, sellers=1)
    try:
        book_month(rt, MARCH, BOOKED_AT)
        rec = _first(rt)
        start, end = rec.start + timedelta(days=2), rec.end + timedelta(days=2)  # type: ignore[operator]

        def both(ev):  # type: ignore[no-untyped-def]
            _move(start, end)(ev)
            _partstat("DECLINED")(ev)

        _edit(rt, rec.key, both)
        reconcile(rt, datetime(2031, 3, 1, 6, tzinfo=UTC))
        got = rt.store.get(rec.key)
        assert got is not None and got.state is SessionState.DECLINED
        assert got.moved and (got.start, got.end) == (start, end)
    finally:
        rt.close()


# -- crashes around cancellation and late pushes ------------------------------


def _crash_after_calendar_write(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = rt.connector("local")
    real = conn.create

    def create_then_die(events):  # type: ignore[no-untyped-def]
        real(events)
        raise RuntimeError("killed after the calendar write")

    monkeypatch.setattr(conn, "create", create_then_die)
    with pytest.raises(RuntimeError):
        book_month(rt, MARCH, BOOKED_AT)
    monkeypatch.undo()


def test_cancelling_a_planned_session_cancels_its_unrecorded_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _rt(tmp_path, sellers=1)
    try:
        _crash_after_calendar_write(rt, monkeypatch)
        rec = _first(rt)
        assert rec.state is SessionState.PLANNED and rec.event_id is None
        cancel_session(rt, rec.key, now=BOOKED_AT)
        assert _status(rt, rec.key) == ["CANCELLED"]
        book_month(rt, MARCH, BOOKED_AT + timedelta(hours=1))  # rebooks as the policy says
        live = [
            k
            for r in rt.store.sessions(month=MARCH)
            for k in _status(rt, r.key)
            if k == "CONFIRMED"
        ]
        assert len(live) == 1
    finally:
        rt.close()


def test_a_slot_that_passed_is_not_pushed_but_planned_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _rt(tmp_path, sellers=1)
    try:
        conn = rt.connector("local")

        def refuse(_events):  # type: ignore[no-untyped-def]
            raise RuntimeError("calendar down")

        monkeypatch.setattr(conn, "create", refuse)
        with pytest.raises(RuntimeError):
            book_month(rt, MARCH, BOOKED_AT)
        monkeypatch.undo()
        rec = _first(rt)
        later = rec.start + timedelta(days=1)  # type: ignore[operator]
        summary = book_month(rt, MARCH, later)
        old = rt.store.get(rec.key)
        assert old is not None and old.state is SessionState.CANCELLED
        assert old.reason.startswith(SLOT_PASSED)
        assert count_tagged(_boss(rt), rec.key) == 0, "no invitation for a past time"
        new = [r for r in rt.store.sessions(month=MARCH) if r.attempt == 2]
        assert summary.created == 1 and new and new[0].start > later  # type: ignore[operator]
    finally:
        rt.close()


# -- sessions moved into another month ----------------------------------------


def test_a_session_moved_into_next_month_counts_against_its_caps(tmp_path: Path) -> None:
    """s1's March session dragged to 3 April: it is s1's April session (no second
    one), and it takes the manager's one session of that day (s2 cannot have it)."""
    rt = _rt(
        tmp_path,
        sellers=2,
        policy={"earliest_day": 3, "latest_day": 3, "max_sessions_per_manager_day": 1},
    )
    try:
        book_month(rt, MARCH, BOOKED_AT)
        rec = next(r for r in rt.store.sessions(month=MARCH) if r.start is not None)
        moved = (rec.start + timedelta(days=31), rec.end + timedelta(days=31))  # type: ignore[operator]
        _edit(rt, rec.key, _move(*moved))
        reconcile(rt, datetime(2031, 3, 2, 6, tzinfo=UTC))
        assert rt.store.get(rec.key).start == moved[0]  # type: ignore[union-attr]
        summary = book_month(rt, APRIL, datetime(2031, 3, 20, 8, tzinfo=UTC))
        assert summary.created == 0, "3 April already holds the manager's one session"
        assert [r.seller_id for r in rt.store.sessions(month=APRIL, seller_id=rec.seller_id)] == []
        assert len(summary.unbookable) == 1 and "cap" in summary.unbookable[0][1]
        assert summary.unbookable[0][0] != rec.seller_id
    finally:
        rt.close()


# -- which session "s1" means -------------------------------------------------


def test_a_seller_id_means_this_months_session_not_next_months(tmp_path: Path) -> None:
    rt = _rt(tmp_path, sellers=1)
    try:
        book_month(rt, MARCH, BOOKED_AT)
        book_month(rt, APRIL, datetime(2031, 3, 20, 8, tzinfo=UTC))
        march = _first(rt)
        after_march = march.end + timedelta(hours=1)  # type: ignore[operator]
        assert find_session(rt, "s1", now=after_march).month == MARCH
        assert find_session(rt, "s1", now=after_march, upcoming=True).month == APRIL
        rec = mark_session(rt, "s1", SessionState.HELD, now=after_march)
        assert rec.month == MARCH
    finally:
        rt.close()
