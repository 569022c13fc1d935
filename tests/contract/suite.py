"""One contract suite that every calendar back end runs (vdirsyncer style).

A back end plugs in with a few lines in its own test module:

    @pytest.fixture
    def harness(tmp_path):
        return LocalHarness(tmp_path)

    class TestLocalContract(ConnectorContract):
        pass

The `harness` fixture must give a *fresh, empty* set of calendars for each test
(function scope): the suite asserts exact sets of events. It checks the connector
only through the `CalendarConnector` protocol and acts on calendars from the
outside only through the `Harness` protocol (tests/contract/harness.py).

`FreeBusy.intervals` and `FreeBusy.errors` are keyed by `CalendarRef.person_id`.

All dates are in March 2031, so nothing depends on today. Session keys have the shape
`session_key` gives them (`cp` + 32 hex digits) and are fresh per test, so a fake
server shared between tests would still not mix them up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.base import (
    Attachment,
    AttendanceAnswer,
    AttendanceStatus,
    Attendee,
    Busy,
    BusyKind,
    ChangeAction,
    ChangeSet,
    EventChange,
    EventState,
    FreeBusy,
    Lookup,
    MeetingQuery,
    NewEvent,
    Outcome,
    Response,
)
from tests.contract.harness import PEOPLE, Harness

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC = ZoneInfo("UTC")
#: The window every test reads: the whole of March 2031, with a day's margin each side.
WINDOW_START = datetime(2031, 2, 28, tzinfo=UTC)
WINDOW_END = datetime(2031, 4, 2, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """A wall-clock time on a day of March 2031 (Stockholm unless told)."""
    return datetime(2031, 3, day, hour, minute, tzinfo=tz)


def new_key() -> str:
    return "cp" + uuid.uuid4().hex


def session(
    harness: Harness,
    seller: str,
    start: datetime,
    *,
    key: str | None = None,
    minutes: int = 45,
) -> NewEvent:
    email, _tz = PEOPLE[seller]
    return NewEvent(
        key=key or new_key(),
        organizer=harness.ref("manager"),
        attendees=(Attendee(email=email, name=seller.title()),),
        start=start,
        end=start + timedelta(minutes=minutes),
        summary=f"Coaching: Manager / {seller.title()}",
        description_text="Agenda\n- Wins since last time\n- One skill to practise\n",
        description_html="<p>Agenda</p><ul><li>Wins since last time</li></ul>",
        attachments=(Attachment("guideline.txt", "text/plain", b"Listen more than you talk.\n"),),
        video_url="https://video.example.com/room/coaching",
    )


def aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def read_busy(harness: Harness, people: Iterable[str]) -> FreeBusy:
    refs = [harness.ref(p) for p in people]
    answer = harness.connector.busy(refs, WINDOW_START, WINDOW_END)
    for person, intervals in answer.intervals.items():
        assert isinstance(intervals, tuple), f"{person}: intervals must be a tuple"
        for item in intervals:
            assert aware(item.start) and aware(item.end), f"{person}: naive time in {item}"
            assert item.start < WINDOW_END and item.end > WINDOW_START, f"outside: {item}"
    return answer


def read_changes(harness: Harness, cursor: str | None) -> ChangeSet:
    answer = harness.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert isinstance(answer.cursor, str) and answer.cursor, "changes must hand out a cursor"
    for event in answer.events:
        assert aware(event.start) and aware(event.end), f"naive time in {event}"
    if cursor is None:
        assert answer.full, "a read without cursor is a full read"
    return answer


def by_key(answer: ChangeSet) -> dict[str, EventState]:
    return {event.key: event for event in answer.events}


def covers(intervals: Iterable[Busy], start: datetime, end: datetime, kind: BusyKind) -> bool:
    """Some interval of `kind` covers [start, end) entirely."""
    return any(b.kind is kind and b.start <= start and b.end >= end for b in intervals)


def blocked(intervals: Iterable[Busy], start: datetime, end: datetime) -> bool:
    """The union of `intervals` (any kind) covers [start, end) without a gap."""
    reached = start
    for item in sorted(intervals, key=lambda b: b.start):
        if item.start > reached:
            break
        reached = max(reached, item.end)
    return reached >= end


def overlaps(intervals: Iterable[Busy], start: datetime, end: datetime) -> bool:
    return any(b.start < end and b.end > start for b in intervals)


def shows_cancelled(answer: ChangeSet, key: str, event_id: str | None) -> bool:
    event = by_key(answer).get(key)
    if event is not None:
        return event.cancelled
    return key in answer.removed or (event_id is not None and event_id in answer.removed)


class ConnectorContract:
    """Subclass in a back end's test module, next to a `harness` fixture."""

    # --- busy -----------------------------------------------------------------------

    def test_busy_answers_for_every_person_asked(self, harness: Harness) -> None:
        harness.add_busy("seller1", at(4, 10), at(4, 11))
        answer = read_busy(harness, PEOPLE)
        for person in PEOPLE:
            assert person in answer.intervals or person in answer.errors, person
        assert not answer.errors, answer.errors
        # An empty calendar is an empty tuple, not a missing entry.
        assert answer.intervals["seller3"] == ()

    def test_busy_shows_unrelated_meeting(self, harness: Harness) -> None:
        new_york = ZoneInfo("America/New_York")
        harness.add_busy("seller1", at(4, 10), at(4, 11, 30))
        harness.add_busy("seller2", at(5, 9, tz=new_york), at(5, 10, tz=new_york))
        answer = read_busy(harness, ["seller1", "seller2", "manager"])
        assert covers(answer.intervals["seller1"], at(4, 10), at(4, 11, 30), BusyKind.BUSY)
        assert covers(
            answer.intervals["seller2"],
            at(5, 9, tz=new_york),
            at(5, 10, tz=new_york),
            BusyKind.BUSY,
        )
        # Nobody else's meeting leaks into the manager's time, nor seller1's into seller2's.
        assert answer.intervals["manager"] == ()
        assert not overlaps(answer.intervals["seller2"], at(4, 10), at(4, 11, 30))

    def test_busy_kinds_out_of_office_and_tentative(self, harness: Harness) -> None:
        harness.add_busy("seller1", at(10, 0), at(12, 0), kind=BusyKind.OOF, summary="Holiday")
        harness.add_busy("seller1", at(13, 14), at(13, 15), kind=BusyKind.TENTATIVE)
        intervals = read_busy(harness, ["seller1"]).intervals["seller1"]
        assert covers(intervals, at(10, 0), at(12, 0), BusyKind.OOF)
        assert covers(intervals, at(13, 14), at(13, 15), BusyKind.TENTATIVE)
        assert not covers(intervals, at(13, 14), at(13, 15), BusyKind.BUSY)

    def test_busy_multi_day_out_of_office(self, harness: Harness) -> None:
        # A week's holiday across a weekend: every minute of it is unavailable, in one
        # interval or several, whatever kind the provider can report.
        harness.add_busy("seller2", at(14, 8), at(21, 18), kind=BusyKind.OOF, summary="Ski trip")
        intervals = read_busy(harness, ["seller2"]).intervals["seller2"]
        assert blocked(intervals, at(14, 8), at(21, 18))
        assert not overlaps(intervals, at(22, 0), at(23, 0))

    def test_busy_leaves_free_time_free(self, harness: Harness) -> None:
        harness.add_busy("seller1", at(4, 10), at(4, 11))
        intervals = read_busy(harness, ["seller1"]).intervals["seller1"]
        assert not overlaps(intervals, at(4, 11), at(4, 17))
        assert not overlaps(intervals, at(5, 0), at(6, 0))

    # --- create -----------------------------------------------------------------------

    def test_create_batch_results_in_input_order(self, harness: Harness) -> None:
        events = [
            session(harness, "seller1", at(11, 9)),
            session(harness, "seller2", at(11, 14)),
            session(harness, "seller3", at(12, 10)),
        ]
        results = harness.connector.create(events)
        assert [r.key for r in results] == [e.key for e in events]
        for result in results:
            assert result.outcome is Outcome.CREATED, result
            assert result.event_id
        assert len({r.event_id for r in results}) == 3

    def test_create_same_key_again_adopts_the_event(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        (first,) = harness.connector.create([event])
        (again,) = harness.connector.create([event])
        assert first.outcome is Outcome.CREATED
        assert again.outcome is Outcome.EXISTED
        assert again.event_id == first.event_id
        assert harness.count_events(event.key) == 1

    def test_create_after_cancel_adopts_the_cancelled_event(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        (created,) = harness.connector.create([event])
        cancel = EventChange(event.key, event.organizer, ChangeAction.CANCEL, created.event_id)
        (cancelled,) = harness.connector.update([cancel])
        assert cancelled.outcome is Outcome.CANCELLED
        (again,) = harness.connector.create([event])
        assert again.outcome is Outcome.EXISTED
        assert harness.count_events(event.key) == 1

    def test_created_event_makes_organiser_busy(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(12, 13))
        harness.connector.create([event])
        intervals = read_busy(harness, ["manager"]).intervals["manager"]
        assert covers(intervals, event.start, event.end, BusyKind.BUSY)

    # --- update -----------------------------------------------------------------------

    def test_move_updates_and_changes_show_new_time(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        (created,) = harness.connector.create([event])
        cursor = read_changes(harness, None).cursor
        new_start, new_end = at(18, 15), at(18, 15, 45)
        move = EventChange(
            event.key, event.organizer, ChangeAction.MOVE, created.event_id, new_start, new_end
        )
        (moved,) = harness.connector.update([move])
        assert moved.outcome is Outcome.UPDATED
        state = by_key(read_changes(harness, cursor))[event.key]
        assert (state.start, state.end) == (new_start, new_end)
        assert not state.cancelled
        assert harness.count_events(event.key) == 1

    def test_cancel_then_cancel_again_is_gone(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        harness.connector.create([event])
        # Found by key alone: the store may not know the provider id after a crash.
        cancel = EventChange(event.key, event.organizer, ChangeAction.CANCEL, comment="Ill")
        (first,) = harness.connector.update([cancel])
        (second,) = harness.connector.update([cancel])
        assert first.outcome is Outcome.CANCELLED
        assert second.outcome is Outcome.GONE
        assert second.ok

    def test_update_batch_results_in_input_order(self, harness: Harness) -> None:
        one = session(harness, "seller1", at(11, 9))
        two = session(harness, "seller2", at(11, 14))
        harness.connector.create([one, two])
        never_created = new_key()
        manager = harness.ref("manager")
        changes = [
            EventChange(two.key, manager, ChangeAction.CANCEL),
            EventChange(never_created, manager, ChangeAction.CANCEL),
            EventChange(one.key, manager, ChangeAction.MOVE, None, at(20, 9), at(20, 10)),
        ]
        results = harness.connector.update(changes)
        assert [r.key for r in results] == [two.key, never_created, one.key]
        assert [r.outcome for r in results] == [Outcome.CANCELLED, Outcome.GONE, Outcome.UPDATED]

    # --- changes ----------------------------------------------------------------------

    def test_full_read_lists_our_events_only(self, harness: Harness) -> None:
        harness.add_busy("manager", at(6, 10), at(6, 11), summary="Pipeline review")
        events = [session(harness, "seller1", at(11, 9)), session(harness, "seller2", at(11, 14))]
        results = harness.connector.create(events)
        answer = read_changes(harness, None)
        assert answer.full
        states = by_key(answer)
        assert set(states) == {e.key for e in events}
        for event, result in zip(events, results, strict=True):
            state = states[event.key]
            assert state.event_id == result.event_id
            assert (state.start, state.end) == (event.start, event.end)
            assert not state.cancelled

    def test_cursor_with_nothing_changed_gives_no_events(self, harness: Harness) -> None:
        harness.connector.create([session(harness, "seller1", at(11, 9))])
        first = read_changes(harness, None)
        again = harness.connector.changes(
            harness.ref("manager"), first.cursor, WINDOW_START, WINDOW_END
        )
        assert again.events == ()
        assert again.removed == ()
        assert not again.full
        assert again.cursor

    def test_changes_show_attendee_decline(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        harness.connector.create([event])
        cursor = read_changes(harness, None).cursor
        harness.respond(event.key, "seller1", Response.DECLINED)
        state = by_key(read_changes(harness, cursor))[event.key]
        assert state.responses.get("seller1@example.com") is Response.DECLINED

    def test_changes_show_attendee_accept(self, harness: Harness) -> None:
        event = session(harness, "seller2", at(11, 14))
        harness.connector.create([event])
        cursor = read_changes(harness, None).cursor
        harness.respond(event.key, "seller2", Response.ACCEPTED)
        state = by_key(read_changes(harness, cursor))[event.key]
        assert state.responses.get("seller2@example.com") is Response.ACCEPTED

    def test_changes_show_cancel_in_calendar(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        (created,) = harness.connector.create([event])
        cursor = read_changes(harness, None).cursor
        harness.cancel_in_calendar(event.key)
        assert shows_cancelled(read_changes(harness, cursor), event.key, created.event_id)

    def test_changes_show_move_in_calendar(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        harness.connector.create([event])
        cursor = read_changes(harness, None).cursor
        new_start, new_end = at(25, 13, 30), at(25, 14, 15)
        harness.move_in_calendar(event.key, new_start, new_end)
        state = by_key(read_changes(harness, cursor))[event.key]
        assert (state.start, state.end) == (new_start, new_end)

    def test_changes_show_our_own_cancel(self, harness: Harness) -> None:
        event = session(harness, "seller3", at(12, 10))
        (created,) = harness.connector.create([event])
        cursor = read_changes(harness, None).cursor
        harness.connector.update([EventChange(event.key, event.organizer, ChangeAction.CANCEL)])
        assert shows_cancelled(read_changes(harness, cursor), event.key, created.event_id)

    def test_expired_cursor_falls_back_to_full_read(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        harness.connector.create([event])
        old = read_changes(harness, None).cursor
        harness.expire_cursor()
        answer = harness.connector.changes(harness.ref("manager"), old, WINDOW_START, WINDOW_END)
        assert answer.full
        assert event.key in by_key(answer)
        assert answer.cursor

    def test_unknown_cursor_falls_back_to_full_read(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        harness.connector.create([event])
        answer = harness.connector.changes(
            harness.ref("manager"), "not-a-cursor-of-ours", WINDOW_START, WINDOW_END
        )
        assert answer.full
        assert event.key in by_key(answer)

    # --- lookup by key -----------------------------------------------------------------

    def look_up(self, harness: Harness, *keys: str) -> Lookup:
        answer = harness.connector.lookup(harness.ref("manager"), list(keys))
        assert not answer.errors, f"look-up failed: {dict(answer.errors)}"
        assert set(answer.found) == set(keys), "every key asked gets an answer"
        for state in answer.found.values():
            if state is not None:
                assert aware(state.start) and aware(state.end), f"naive time in {state}"
        return answer

    def test_lookup_finds_event_moved_to_another_month(self, harness: Harness) -> None:
        """Moved out of every read window: a full read of March does not list it,
        the look-up by key finds it at its new time (the cure of a double booking)."""
        event = session(harness, "seller1", at(11, 9))
        harness.connector.create([event])
        new_start = datetime(2031, 5, 14, 10, 0, tzinfo=STOCKHOLM)
        new_end = new_start + timedelta(minutes=45)
        harness.move_in_calendar(event.key, new_start, new_end)
        assert event.key not in by_key(read_changes(harness, None))
        state = self.look_up(harness, event.key).found[event.key]
        assert state is not None and state.key == event.key and not state.cancelled
        assert (state.start, state.end) == (new_start, new_end)

    def test_lookup_finds_event_in_place_with_replies(self, harness: Harness) -> None:
        event = session(harness, "seller2", at(12, 15))
        harness.connector.create([event])
        harness.respond(event.key, "seller2", Response.DECLINED)
        state = self.look_up(harness, event.key).found[event.key]
        assert state is not None and (state.start, state.end) == (event.start, event.end)
        assert state.responses.get("seller2@example.com") is Response.DECLINED

    def test_lookup_of_deleted_event_is_none(self, harness: Harness) -> None:
        event = session(harness, "seller1", at(11, 9))
        harness.connector.create([event])
        harness.cancel_in_calendar(event.key)
        assert self.look_up(harness, event.key).found == {event.key: None}

    def test_lookup_of_cancelled_event_is_none(self, harness: Harness) -> None:
        event = session(harness, "seller3", at(13, 10))
        harness.connector.create([event])
        harness.connector.update([EventChange(event.key, event.organizer, ChangeAction.CANCEL)])
        assert self.look_up(harness, event.key).found == {event.key: None}

    def test_lookup_answers_each_key_of_a_batch(self, harness: Harness) -> None:
        live, deleted = (
            session(harness, "seller1", at(17, 9)),
            session(harness, "seller2", at(18, 9)),
        )
        harness.connector.create([live, deleted])
        harness.cancel_in_calendar(deleted.key)
        never = new_key()
        found = self.look_up(harness, live.key, deleted.key, never).found
        assert found[deleted.key] is None and found[never] is None
        state = found[live.key]
        assert state is not None and (state.start, state.end) == (live.start, live.end)

    # --- meeting attendance --------------------------------------------------------------

    def ask_attendance(self, harness: Harness, queries: list[MeetingQuery]) -> AttendanceAnswer:
        answer = harness.connector.attendance(queries)
        asked = {q.key for q in queries}
        assert set(answer.results) | set(answer.errors) == asked, "every key asked is answered"
        for key, result in answer.results.items():
            assert result.key == key and isinstance(result.status, AttendanceStatus)
            for email, spans in result.presence.items():
                assert email == email.lower(), f"presence keyed by lower-case e-mail: {email}"
                assert all(aware(a) and aware(b) and a <= b for a, b in spans), spans
        for key, problem in answer.errors.items():
            assert problem.strip(), f"an error for {key} says what went wrong"
        return answer

    def test_attendance_answers_every_session_asked(self, harness: Harness) -> None:
        booked = session(harness, "seller1", at(10, 10))
        [result] = harness.connector.create([booked])
        queries = [
            meeting_query(harness, booked, result.event_id, result.video_url),
            meeting_query(harness, session(harness, "seller2", at(11, 10)), None, None),
        ]
        self.ask_attendance(harness, queries)

    def test_attendance_of_unknown_events_never_raises(self, harness: Harness) -> None:
        never = session(harness, "seller3", at(12, 10))
        queries = [
            meeting_query(harness, never, "no-such-event", "https://meet.invalid/abc-defg-hij"),
            meeting_query(harness, session(harness, "seller1", at(12, 14)), None, None),
        ]
        self.ask_attendance(harness, queries)

    def test_attendance_of_nothing_costs_nothing(self, harness: Harness) -> None:
        requests = getattr(harness, "request_count", None)
        before = requests() if requests else None
        answer = harness.connector.attendance([])
        assert (dict(answer.results), dict(answer.errors)) == ({}, {})
        if requests:
            assert requests() == before, "an empty question makes no request"


class NoMeetingsContract(ConnectorContract):
    """The contract of a back end without a meeting provider (local, CalDAV)."""

    def test_attendance_without_meetings_says_unsupported(self, harness: Harness) -> None:
        """Back ends without a meeting provider say so for every key, and why."""
        booked = session(harness, "seller1", at(10, 10))
        [result] = harness.connector.create([booked])
        answer = self.ask_attendance(
            harness, [meeting_query(harness, booked, result.event_id, result.video_url)]
        )
        assert answer.errors == {}
        said = answer.results[booked.key]
        assert said.status is AttendanceStatus.UNSUPPORTED and not said.presence
        assert "no meeting attendance" in said.detail


def meeting_query(
    harness: Harness, event: NewEvent, event_id: str | None, video_url: str | None
) -> MeetingQuery:
    """The question reconcile asks about a session: the manager's and the seller's
    presence in its meeting."""
    return MeetingQuery(
        key=event.key,
        organizer=harness.ref("manager"),
        people=(Attendee(harness.ref("manager").email, "Manager"), *event.attendees),
        start=event.start,
        end=event.end,
        event_id=event_id,
        video_url=video_url,
    )
