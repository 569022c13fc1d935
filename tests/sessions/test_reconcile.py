"""Reconcile on real local calendars: what people do in their calendars becomes
session states; declines and cancellations are rebooked while the month has room."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from scheduler.errors import UserError
from scheduler.model import Month, SessionRecord, SessionState
from scheduler.runtime import Runtime
from scheduler.service.jobs import reconcile_and_rebook
from scheduler.sessions.actions import mark_session
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings
from scheduler.store.store import SENT_TO_CALENDAR
from tests.orgs import count_tagged, write_org

MONTH = Month(2031, 3)
BOOKED_AT = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def rt(tmp_path: Path):  # type: ignore[no-untyped-def]
    runtime = Runtime.open(load_settings(write_org(tmp_path, sellers=4)))
    book_month(runtime, MONTH, BOOKED_AT)
    yield runtime
    runtime.close()


def _edit(rt: Runtime, key: str, change) -> None:  # type: ignore[no-untyped-def]
    """Change the organiser's copy as their calendar client would (SEQUENCE raised)."""
    path = rt.settings.base_dir / "calendars" / "boss.ics"
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    for ev in cal.walk("VEVENT"):
        if str(ev.get("X-COACHPASS-SESSION", "")) == key:
            change(ev)
            seq = int(ev.get("SEQUENCE", 0)) + 1
            ev.pop("SEQUENCE", None)
            ev.add("SEQUENCE", seq)
    path.write_bytes(cal.to_ical())


def _by_seller(rt: Runtime) -> dict[str, SessionRecord]:
    return {r.seller_id: r for r in rt.store.sessions(month=MONTH) if r.attempt == 1}


def test_decline_cancel_move_and_presumed_held(rt: Runtime) -> None:
    s = _by_seller(rt)

    def decline(ev):  # type: ignore[no-untyped-def]
        ev["ATTENDEE"].params["PARTSTAT"] = "DECLINED"

    def cancel(ev):  # type: ignore[no-untyped-def]
        ev.pop("STATUS")
        ev.add("STATUS", "CANCELLED")

    new_start = s["s3"].start + timedelta(days=1)  # type: ignore[operator]
    new_end = s["s3"].end + timedelta(days=1)  # type: ignore[operator]

    def move(ev):  # type: ignore[no-untyped-def]
        for name in ("DTSTART", "DTEND"):
            ev.pop(name)
        ev.add("DTSTART", new_start)
        ev.add("DTEND", new_end)

    _edit(rt, s["s1"].key, decline)
    _edit(rt, s["s2"].key, cancel)
    _edit(rt, s["s3"].key, move)
    early = datetime(2031, 3, 1, 6, 0, tzinfo=UTC)  # before every session
    summary = reconcile(rt, early)
    got = _by_seller(rt)
    assert got["s1"].state is SessionState.DECLINED
    assert got["s2"].state is SessionState.CANCELLED
    assert got["s3"].state is SessionState.RESCHEDULED and got["s3"].moved
    assert (got["s3"].start, got["s3"].end) == (new_start, new_end)
    assert got["s4"].state is SessionState.BOOKED
    assert len(summary.transitions) == 3
    # Nothing changed since: the cursor makes the second read empty.
    assert reconcile(rt, early).transitions == ()

    after = max(r.end for r in rt.store.sessions(month=MONTH) if r.end) + timedelta(hours=1)
    reconcile(rt, after)
    got = _by_seller(rt)
    assert got["s3"].state is SessionState.HELD and got["s4"].state is SessionState.HELD
    assert not got["s4"].verified, "presumed, not verified"
    assert got["s1"].state is SessionState.DECLINED, "a decline never turns into held"


def test_declined_and_cancelled_are_rebooked_with_a_new_key(rt: Runtime) -> None:
    s = _by_seller(rt)

    def decline(ev):  # type: ignore[no-untyped-def]
        ev["ATTENDEE"].params["PARTSTAT"] = "DECLINED"

    _edit(rt, s["s1"].key, decline)
    summary, rebooked = reconcile_and_rebook(rt, datetime(2031, 3, 1, 6, 0, tzinfo=UTC))
    assert rebooked == 1 and summary.months_to_rebook() == {MONTH}
    attempts = sorted(
        (r for r in rt.store.sessions(month=MONTH) if r.seller_id == "s1"), key=lambda r: r.attempt
    )
    assert [(r.attempt, r.state) for r in attempts] == [
        (1, SessionState.DECLINED),
        (2, SessionState.BOOKED),
    ]
    assert attempts[0].key != attempts[1].key
    cal = rt.settings.base_dir / "calendars" / "boss.ics"
    assert count_tagged(cal, attempts[1].key) == 1
    history = [
        (h.from_state, h.to_state, h.detail) for h in rt.store.history(keys=[attempts[0].key])
    ]
    assert [(f, t) for f, t, _ in history] == [
        (None, SessionState.PLANNED),
        (SessionState.PLANNED, SessionState.PLANNED),  # the create sent to the calendar
        (SessionState.PLANNED, SessionState.BOOKED),
        (SessionState.BOOKED, SessionState.DECLINED),
    ]
    assert history[1][2] == SENT_TO_CALENDAR


def test_no_rebook_when_policy_says_no(tmp_path: Path) -> None:
    rt = Runtime.open(
        load_settings(write_org(tmp_path, sellers=2, policy={"rebook_on_decline": False}))
    )
    try:
        book_month(rt, MONTH, BOOKED_AT)
        key = _by_seller(rt)["s1"].key

        def decline(ev):  # type: ignore[no-untyped-def]
            ev["ATTENDEE"].params["PARTSTAT"] = "DECLINED"

        _edit(rt, key, decline)
        _, rebooked = reconcile_and_rebook(rt, datetime(2031, 3, 1, 6, 0, tzinfo=UTC))
        assert rebooked == 0
        assert [r.attempt for r in rt.store.sessions(month=MONTH) if r.seller_id == "s1"] == [1]
    finally:
        rt.close()


def test_manager_marks_no_show_and_followups(rt: Runtime) -> None:
    s1 = _by_seller(rt)["s1"]
    with pytest.raises(UserError, match="before it begins"):
        mark_session(rt, "s1", SessionState.NO_SHOW, now=BOOKED_AT, month=MONTH)
    after = s1.end + timedelta(hours=2)  # type: ignore[operator]
    rec = mark_session(
        rt, s1.key[:10], SessionState.HELD, now=after, note="good", followups="call the CFO"
    )
    assert rec.state is SessionState.HELD and rec.verified and rec.followups == "call the CFO"
    rec = mark_session(rt, "s1", SessionState.NO_SHOW, now=after, month=MONTH)
    assert rec.state is SessionState.NO_SHOW
    with pytest.raises(UserError, match="no session matches"):
        mark_session(rt, "nobody", SessionState.HELD, now=after)


def test_admin_cancel_tells_attendees_and_rebooks_only_if_asked(rt: Runtime) -> None:
    from email import message_from_bytes, policy

    from scheduler.sessions.actions import cancel_session

    s2 = _by_seller(rt)["s2"]
    outbox = rt.settings.base_dir / "outbox"
    before = set(outbox.glob("*.eml"))
    rec = cancel_session(rt, "s2", now=BOOKED_AT, reason="seller left", rebook=False, month=MONTH)
    assert rec.state is SessionState.CANCELLED
    new = set(outbox.glob("*.eml")) - before
    methods = set()
    for path in new:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        for part in msg.walk():
            if part.get_content_type() == "text/calendar":
                methods.add(part.get_param("method"))
    assert methods == {"CANCEL"}
    cal = icalendar.Calendar.from_ical(
        (rt.settings.base_dir / "calendars" / "boss.ics").read_bytes()
    )
    event = next(
        ev for ev in cal.walk("VEVENT") if str(ev.get("X-COACHPASS-SESSION", "")) == s2.key
    )
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) >= 1
    # Neither reconcile nor the next top-up rebooks a --no-rebook cancellation ...
    _, rebooked = reconcile_and_rebook(rt, datetime(2031, 3, 1, 6, 0, tzinfo=UTC))
    assert rebooked == 0
    assert book_month(rt, MONTH, datetime(2031, 3, 1, 7, 0, tzinfo=UTC)).created == 0
    with pytest.raises(UserError, match="only planned or booked"):
        cancel_session(rt, s2.key, now=BOOKED_AT)
    # ... while a plain admin cancel follows the policy (rebook_on_cancel).
    cancel_session(rt, "s3", now=BOOKED_AT, month=MONTH)
    again = book_month(rt, MONTH, datetime(2031, 3, 1, 7, 0, tzinfo=UTC))
    assert again.created == 1
    assert [r.attempt for r in rt.store.sessions(month=MONTH) if r.seller_id == "s3"] == [1, 2]
