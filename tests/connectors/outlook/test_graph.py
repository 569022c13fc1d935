"""Outlook connector behaviour specific to Graph: getSchedule limits, paging, delta
details, attachments, Teams links, and the pure JSON mapping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import Attachment, Attendee, BusyKind, NewEvent, Outcome, Response
from connectors.outlook.events import (
    PROPERTY_ID,
    event_state,
    parse_time,
    schedule_busy,
    split_window,
)
from scheduler.model import Month
from scheduler.sessions.booking import month_window
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

UTC = dt.UTC
MANAGER = "manager@example.com"
PEOPLE = [MANAGER] + [f"seller{n}@example.com" for n in range(24)]
MARCH = (dt.datetime(2031, 3, 1, tzinfo=UTC), dt.datetime(2031, 4, 1, tzinfo=UTC))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph(PEOPLE).start()
    try:
        yield server
    finally:
        server.stop()


def session(start: dt.datetime, seller: str = "seller1@example.com", **kw: object) -> NewEvent:
    return NewEvent(
        key="cp" + uuid.uuid4().hex,
        organizer=ref(MANAGER),
        attendees=(Attendee(seller, "Seller"),),
        start=start,
        end=start + dt.timedelta(minutes=45),
        summary="Coaching",
        description_text="Agenda:\n- wins & one skill",
        **kw,  # type: ignore[arg-type]
    )


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2031, 3, day, hour, tzinfo=UTC)


# -- busy ---------------------------------------------------------------------------------


def test_busy_splits_people_by_20_and_windows_by_40_days(fake: FakeGraph, tmp_path: Path) -> None:
    start, end = dt.datetime(2031, 1, 1, tzinfo=UTC), dt.datetime(2031, 4, 1, tzinfo=UTC)
    fake.add_event("seller23@example.com", at(20, 9), at(20, 10))  # in the 2nd group & window
    fake.add_event(
        "seller0@example.com",
        dt.datetime(2031, 1, 2, 9, tzinfo=UTC),
        dt.datetime(2031, 1, 2, 10, tzinfo=UTC),
    )
    conn = connect(fake, tmp_path)
    try:
        answer = conn.busy([ref(p) for p in PEOPLE], start, end)
    finally:
        conn.close()
    assert not answer.errors
    assert set(answer.intervals) == {ref(p).person_id for p in PEOPLE}
    assert [(b.start, b.end) for b in answer.intervals["seller23"]] == [(at(20, 9), at(20, 10))]
    assert len(answer.intervals["seller0"]) == 1
    # 25 people x 90 days: 2 groups x 3 windows, sent as one $batch of 6 getSchedule parts
    assert fake.counts["graph"] == 1 and fake.counts["batch_parts"] == 6
    assert [m for m, _p, _h in fake.log] == ["POST"] + ["part POST"] * 6
    for method, path, headers in fake.log:
        assert headers.get("prefer", "").startswith('outlook.timezone="UTC"'), (method, path)


def test_unknown_person_is_an_error_naming_them(fake: FakeGraph, tmp_path: Path) -> None:
    conn = connect(fake, tmp_path)
    try:
        answer = conn.busy([ref(MANAGER), ref("left.company@example.com", "p9")], *MARCH)
    finally:
        conn.close()
    assert answer.intervals["manager"] == ()
    assert "p9" not in answer.intervals
    assert "left.company@example.com" in answer.errors["p9"]


def test_working_elsewhere_and_free_are_not_busy(fake: FakeGraph, tmp_path: Path) -> None:
    fake.add_event(MANAGER, at(4, 0), at(5, 0), show_as="workingElsewhere", subject="WFH")
    fake.add_event(MANAGER, at(4, 9), at(4, 10), show_as="free")
    fake.add_event(MANAGER, at(4, 13), at(4, 14), show_as="tentative")
    conn = connect(fake, tmp_path)
    try:
        intervals = conn.busy([ref(MANAGER)], *MARCH).intervals["manager"]
    finally:
        conn.close()
    assert [(b.start, b.kind) for b in intervals] == [(at(4, 13), BusyKind.TENTATIVE)]


def test_declined_invitation_frees_the_seller(fake: FakeGraph, tmp_path: Path) -> None:
    event = session(at(11, 9))
    conn = connect(fake, tmp_path)
    try:
        conn.create([event])
        before = conn.busy([ref("seller1@example.com")], *MARCH).intervals["seller1"]
        fake.respond(event.key, "seller1@example.com", "declined")
        after = conn.busy([ref("seller1@example.com")], *MARCH).intervals["seller1"]
    finally:
        conn.close()
    assert [(b.start, b.end) for b in before] == [(event.start, event.end)]
    assert after == ()


# -- create ---------------------------------------------------------------------------------


def test_create_sends_tag_transaction_teams_and_attachment(fake: FakeGraph, tmp_path: Path) -> None:
    agenda = Attachment("agenda.html", "text/html", b"<h1>Agenda</h1>")
    event = session(at(11, 9), attachments=(agenda,))
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    (made,) = fake.by_key(event.key)
    assert made.ext_props == {PROPERTY_ID: event.key}
    assert made.transaction_id == event.key
    assert made.online_provider == "teamsForBusiness"
    assert result.video_url == made.join_url and result.video_url
    assert [a["name"] for a in made.attachments] == ["agenda.html"]
    assert made.body["contentType"] == "HTML" and "wins &amp; one skill" in made.body["content"]


def test_existing_event_missing_its_attachment_gets_it(fake: FakeGraph, tmp_path: Path) -> None:
    agenda = Attachment("agenda.txt", "text/plain", b"Agenda")
    event = session(at(11, 9), attachments=(agenda,))
    conn = connect(fake, tmp_path)
    try:
        # A crash after the create and before the upload: only the event exists.
        conn.create([dataclasses.replace(event, attachments=())])
        (again,) = conn.create([event])
    finally:
        conn.close()
    assert again.outcome is Outcome.EXISTED
    (made,) = fake.by_key(event.key)
    assert [a["name"] for a in made.attachments] == ["agenda.txt"]


def test_attachment_of_3_mb_fails_with_its_name(fake: FakeGraph, tmp_path: Path) -> None:
    big = Attachment("huge.pdf", "application/pdf", b"x" * (3 * 1024 * 1024))
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([session(at(11, 9), attachments=(big,))])
    finally:
        conn.close()
    assert result.outcome is Outcome.FAILED and "huge.pdf" in (result.error or "")
    assert fake.counts["graph"] == 0


def test_without_teams_the_fallback_link_is_in_the_invite(fake: FakeGraph, tmp_path: Path) -> None:
    event = session(at(11, 9), video_url="https://video.example.com/r/1")
    conn = connect(fake, tmp_path, online_meeting_provider="")
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    (made,) = fake.by_key(event.key)
    assert made.online_provider is None
    assert "https://video.example.com/r/1" in made.body["content"]
    assert result.video_url == "https://video.example.com/r/1"


def test_same_key_twice_in_one_call_makes_one_event(fake: FakeGraph, tmp_path: Path) -> None:
    event = session(at(11, 9))
    conn = connect(fake, tmp_path)
    try:
        one, two = conn.create([event, event])
    finally:
        conn.close()
    assert one == two and one.outcome is Outcome.CREATED
    assert len(fake.by_key(event.key, include_deleted=True)) == 1


# -- changes --------------------------------------------------------------------------------


def test_every_page_is_read(fake: FakeGraph, tmp_path: Path) -> None:
    fake.max_page = 2
    events = [session(at(3 + n, 9), f"seller{n}@example.com") for n in range(7)]
    for n in range(5):
        fake.add_event(MANAGER, at(3 + n, 14), at(3 + n, 15))
    conn = connect(fake, tmp_path)
    try:
        conn.create(events)
        full = conn.changes(ref(MANAGER), None, *MARCH)
        for n, e in enumerate(events):
            fake.move(e.key, at(20 + n % 5, 8 + n), at(20 + n % 5, 9 + n))
        later = conn.changes(ref(MANAGER), full.cursor, *MARCH)
    finally:
        conn.close()
    assert {s.key for s in full.events} == {e.key for e in events}
    assert {s.key for s in later.events} == {e.key for e in events}
    assert not later.full


def test_new_event_after_full_read_is_recognised_by_its_tag(
    fake: FakeGraph, tmp_path: Path
) -> None:
    conn = connect(fake, tmp_path)
    try:
        full = conn.changes(ref(MANAGER), None, *MARCH)
        event = session(at(12, 9))
        conn.create([event])
        fake.add_event(MANAGER, at(12, 13), at(12, 14), subject="Not ours")
        later = conn.changes(ref(MANAGER), full.cursor, *MARCH)
        quiet = conn.changes(ref(MANAGER), later.cursor, *MARCH)
        fake.cancel_by_organiser(event.key)
        gone = conn.changes(ref(MANAGER), quiet.cursor, *MARCH)
    finally:
        conn.close()
    assert [s.key for s in later.events] == [event.key]
    assert quiet.events == () and quiet.removed == ()
    # The id -> key map carried in the cursor names the removed event by its key.
    assert gone.removed == (event.key,)


def test_reconcile_without_changes_is_one_request(fake: FakeGraph, tmp_path: Path) -> None:
    conn = connect(fake, tmp_path)
    try:
        conn.create([session(at(11, 9))])
        cursor = conn.changes(ref(MANAGER), None, *MARCH).cursor
        before = fake.counts["graph"]
        answer = conn.changes(ref(MANAGER), cursor, *MARCH)
    finally:
        conn.close()
    assert answer.events == ()
    assert fake.counts["graph"] - before == 1


def test_another_window_is_a_full_read(fake: FakeGraph, tmp_path: Path) -> None:
    conn = connect(fake, tmp_path)
    try:
        event = session(at(11, 9))
        conn.create([event])
        cursor = conn.changes(ref(MANAGER), None, *MARCH).cursor
        april = (dt.datetime(2031, 3, 10, tzinfo=UTC), dt.datetime(2031, 5, 1, tzinfo=UTC))
        answer = conn.changes(ref(MANAGER), cursor, *april)
    finally:
        conn.close()
    assert answer.full and [s.key for s in answer.events] == [event.key]


# -- pure mapping --------------------------------------------------------------------------


def test_parse_time_reads_graph_seven_digit_fractions() -> None:
    value = parse_time({"dateTime": "2031-03-11T09:00:00.1234567", "timeZone": "UTC"})
    assert value == dt.datetime(2031, 3, 11, 9, 0, 0, 123456, tzinfo=UTC)
    stockholm = parse_time({"dateTime": "2031-03-11T10:00:00", "timeZone": "Europe/Stockholm"})
    assert stockholm == dt.datetime(2031, 3, 11, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match=re.escape("W. Europe Standard Time")):
        parse_time({"dateTime": "2031-03-11T10:00:00", "timeZone": "W. Europe Standard Time"})


def test_availability_view_is_used_without_schedule_items() -> None:
    start = at(4, 8)
    # 15-minute slots: free, busy, busy, oof, tentative, working elsewhere
    busy = schedule_busy({"availabilityView": "022314"}, start, 15)
    q = dt.timedelta(minutes=15)
    assert [(b.start, b.end, b.kind) for b in busy] == [
        (start + q, start + 3 * q, BusyKind.BUSY),
        (start + 3 * q, start + 4 * q, BusyKind.OOF),
        (start + 4 * q, start + 5 * q, BusyKind.TENTATIVE),
    ]


def test_event_state_maps_responses() -> None:
    item = {
        "id": "AAMk1",
        "start": {"dateTime": "2031-03-11T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2031-03-11T09:45:00.0000000", "timeZone": "UTC"},
        "isCancelled": True,
        "attendees": [
            {"emailAddress": {"address": "A@Example.com"}, "status": {"response": "declined"}},
            {
                "emailAddress": {"address": "b@example.com"},
                "status": {"response": "tentativelyAccepted"},
            },
            {"emailAddress": {"address": "c@example.com"}, "status": {"response": "none"}},
        ],
    }
    state = event_state(item, "cpkey")
    assert state.cancelled and state.event_id == "AAMk1"
    assert state.responses == {
        "a@example.com": Response.DECLINED,
        "b@example.com": Response.TENTATIVE,
        "c@example.com": Response.NEEDS_ACTION,
    }


def test_split_window_never_exceeds_40_days() -> None:
    start = dt.datetime(2031, 1, 1, tzinfo=UTC)
    parts = split_window(start, start + dt.timedelta(days=90))
    assert [(b - a).days for a, b in parts] == [40, 40, 10]
    assert parts[0][0] == start and parts[-1][1] == start + dt.timedelta(days=90)


def test_bookings_window_is_one_getschedule_window() -> None:
    # A month and the days around it that cover every zone: 34 days at most.
    for month in (Month(2031, 1), Month(2031, 2), Month(2031, 12)):
        assert len(split_window(*month_window(month))) == 1


def test_event_moved_out_of_the_window_is_moved_not_removed(
    fake: FakeGraph, tmp_path: Path
) -> None:
    conn = connect(fake, tmp_path)
    try:
        event = session(at(11, 9))
        conn.create([event])
        cursor = conn.changes(ref(MANAGER), None, *MARCH).cursor
        april = dt.datetime(2031, 4, 8, 9, tzinfo=UTC)
        fake.move(event.key, april, april + dt.timedelta(minutes=45))
        answer = conn.changes(ref(MANAGER), cursor, *MARCH)
    finally:
        conn.close()
    assert answer.removed == ()
    (state,) = answer.events
    assert (state.key, state.start) == (event.key, april)
