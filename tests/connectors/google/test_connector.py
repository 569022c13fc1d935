"""The Google connector against the fake API: requests sent, retries, limits, errors.

Beyond the shared contract suite: what goes over the wire (batch per organiser,
sendUpdates, Meet request, Drive link), Google's limits (50 calendars, long windows,
pages), and throttling/faults answered per batch part.
"""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    SESSION_TAG,
    CalendarRef,
    ChangeAction,
    ConnectorContext,
    EventChange,
    Outcome,
    TransientError,
)
from connectors.google.connector import GoogleConnector
from tests.contract.suite import WINDOW_END, WINDOW_START, at, new_key, session
from tests.fakes.google_faults import (
    BACKEND_503,
    RATE_LIMIT_403,
    RATE_LIMIT_429,
    USER_RATE_LIMIT_403,
    Fault,
)
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    GoogleHarness,
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_harness,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle

GUIDE = "https://drive.google.com/file/d/guide/view"


def make(fake: FakeGoogle, key_file: Path, tmp_path: Path, **extra: Any) -> GoogleConnector:
    return GoogleConnector(
        connector_options(fake, key_file, **extra),
        ConnectorContext(base_dir=tmp_path),
        sleep=RecordedSleep(),
    )


def inserts(fake: FakeGoogle) -> list[Any]:
    return [c for c in fake.api_calls(kind="POST /calendar/v3/calendars/") if c.in_batch]


# --- create -----------------------------------------------------------------------------


def test_create_is_one_batch_per_organiser_with_invites_meet_and_guidelines(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    h.connector.guideline_url = GUIDE
    events = [session(h, s, at(11, 9 + i)) for i, s in enumerate(["seller1", "seller2", "seller3"])]
    fake.reset_stats()
    results = h.connector.create(events)
    assert all(r.outcome is Outcome.CREATED for r in results)
    assert fake.stats["api"] == 1 and fake.stats["parts"] == 3  # one HTTP request
    for call in inserts(fake):
        assert call.params["sendUpdates"] == ["all"]
        assert call.params["conferenceDataVersion"] == ["1"]
        assert call.params["supportsAttachments"] == ["true"]
        assert call.subject == "manager@example.com"  # acting as the organiser
    for event, result in zip(events, results, strict=True):
        stored = fake.store.get("manager@example.com", event.key)
        assert result.event_id == event.key  # the id is the session key
        assert stored["extendedProperties"]["private"][SESSION_TAG] == event.key
        assert stored["attachments"][0]["fileUrl"] == GUIDE
        assert GUIDE in stored["description"]
        assert result.video_url and result.video_url == stored["hangoutLink"]


def test_batch_goes_to_the_configured_endpoint(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    fake.add_user("manager@example.com")
    connector = make(fake, google_key_file, tmp_path)
    assert connector.batch_uri == fake.url + "batch/calendar/v3"
    ref = CalendarRef("manager", "manager@example.com", "manager@example.com")
    events = [session_for(ref, at(3 + i, 10)) for i in range(2)]
    fake.reset_stats()
    connector.create(events)
    assert fake.stats["api"] == 1 and fake.stats["parts"] == 2


def session_for(ref: CalendarRef, start: datetime) -> Any:
    from connectors.base import Attendee, NewEvent

    return NewEvent(
        key=new_key(),
        organizer=ref,
        attendees=(Attendee("seller1@example.com"),),
        start=start,
        end=start + timedelta(minutes=45),
        summary="Coaching",
        description_text="Agenda",
    )


def test_throttled_parts_are_requeued_honouring_retry_after(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    events = [session(h, "seller1", at(11, 9)), session(h, "seller2", at(11, 14))]
    wait = Fault(429, "rateLimitExceeded", retry_after=3)
    fake.faults.fail_next(wait, match="POST /calendar/v3/calendars/")
    fake.faults.fail_next(USER_RATE_LIMIT_403, match="POST /calendar/v3/calendars/")
    fake.faults.fail_next(BACKEND_503, match="POST /calendar/v3/calendars/")
    results = h.connector.create(events)
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CREATED]
    assert h.sleep.delays and h.sleep.delays[0] >= 3  # Retry-After is a floor
    assert all(h.count_events(e.key) == 1 for e in events)
    assert fake.faults.injected == 3


def test_other_errors_fail_one_session_and_not_the_rest(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    events = [session(h, "seller1", at(11, 9)), session(h, "seller2", at(11, 14))]
    forbidden = Fault(403, "forbidden", "The caller does not have permission")
    fake.faults.fail_next(forbidden, match="POST /calendar/v3/calendars/")
    first, second = h.connector.create(events)
    assert first.outcome is Outcome.FAILED and not first.retryable
    assert "manager@example.com" in (first.error or "") and "forbidden" in (first.error or "")
    assert second.outcome is Outcome.CREATED
    assert h.sleep.delays == []  # nothing retried


def test_parts_still_throttled_after_the_last_attempt_fail_retryably(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    for email in ("manager@example.com", "seller1@example.com"):
        fake.add_user(email)
    connector = make(fake, google_key_file, tmp_path, max_attempts=3)
    ref = CalendarRef("manager", "manager@example.com", "manager@example.com")
    fake.faults.fail_next(RATE_LIMIT_403, match="POST /calendar/v3/calendars/", times=3)
    (result,) = connector.create([session_for(ref, at(5, 10))])
    assert result.outcome is Outcome.FAILED and result.retryable
    assert "rateLimitExceeded" in (result.error or "")


def test_connection_reset_mid_batch_creates_nothing_twice(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    events = [session(h, "seller1", at(d, 9)) for d in range(3, 9)]
    fake.faults.reset_next_batch()
    results = h.connector.create(events)
    assert fake.faults.resets == 1
    assert all(r.ok for r in results)
    # The first half took effect before the reset and comes back as adopted.
    assert {r.outcome for r in results[:3]} == {Outcome.EXISTED}
    assert {r.outcome for r in results[3:]} == {Outcome.CREATED}
    assert all(h.count_events(e.key) == 1 for e in events)


def test_a_slow_answer_times_out_and_is_retried(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    for email in ("manager@example.com", "seller1@example.com"):
        fake.add_user(email)
    connector = make(fake, google_key_file, tmp_path, timeout_seconds=0.3)
    ref = CalendarRef("manager", "manager@example.com", "manager@example.com")
    connector.busy([ref], WINDOW_START, WINDOW_END)  # token fetched before the slow part
    fake.faults.slow_next(0.8, match="/batch/")
    event = session_for(ref, at(5, 10))
    (result,) = connector.create([event])
    assert result.ok
    fake.wait_idle()  # the abandoned slow request has landed too (as a 409)
    assert len([e for e in fake.store.events("manager@example.com") if e["id"] == event.key]) == 1


def test_invalid_key_is_reported_without_calling_google(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    bad = session(h, "seller1", at(11, 9), key="not_base32hex!")
    good = session(h, "seller2", at(11, 10))
    first, second = h.connector.create([bad, good])
    assert first.outcome is Outcome.FAILED and "not a valid Google event id" in (first.error or "")
    assert second.outcome is Outcome.CREATED


# --- update -----------------------------------------------------------------------------


def test_cancel_notifies_attendees_and_move_of_cancelled_fails(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    event = session(h, "seller1", at(11, 9))
    h.connector.create([event])
    manager = h.ref("manager")
    (cancelled,) = h.connector.update([EventChange(event.key, manager, ChangeAction.CANCEL)])
    assert cancelled.outcome is Outcome.CANCELLED
    delete = next(fake.api_calls(kind="DELETE"))
    assert delete.params["sendUpdates"] == ["all"]
    move = EventChange(event.key, manager, ChangeAction.MOVE, None, at(12, 9), at(12, 10))
    (moved,) = h.connector.update([move])
    assert moved.outcome is Outcome.FAILED and "book a new attempt" in (moved.error or "")


# --- busy -------------------------------------------------------------------------------


def test_busy_asks_at_most_50_calendars_and_splits_long_windows(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    people = [f"p{i:02d}@example.com" for i in range(60)]
    for email in people:
        fake.add_user(email)
    start = datetime(2031, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=120)
    late = start + timedelta(days=100)
    fake.store.put(
        "p59@example.com",
        {
            "start": {"dateTime": late.isoformat()},
            "end": {"dateTime": (late + timedelta(hours=1)).isoformat()},
        },
    )
    connector = make(fake, google_key_file, tmp_path)
    refs = [CalendarRef(e.split("@")[0], e, e) for e in people]
    fake.reset_stats()
    answer = connector.busy(refs, start, end)
    queries = list(fake.api_calls(kind="freeBusy"))
    assert len(queries) == 3 * 2  # 3 windows x (50 + 10 calendars)
    assert max(len(q.body["items"]) for q in queries) == 50
    assert not answer.errors and len(answer.intervals) == 60
    (busy,) = answer.intervals["p59"]
    assert (busy.start, busy.end) == (late, late + timedelta(hours=1))


def test_busy_reports_unreadable_calendars_by_person(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    ghost = CalendarRef("ghost", "ghost@example.com", "ghost@example.com")
    answer = h.connector.busy([h.ref("manager"), ghost], WINDOW_START, WINDOW_END)
    assert "ghost" not in answer.intervals
    assert "ghost@example.com" in answer.errors["ghost"]
    assert "notFound" in answer.errors["ghost"]
    assert answer.intervals["manager"] == ()


def test_busy_gives_up_with_a_transient_error(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    fake.add_user("manager@example.com")
    connector = make(fake, google_key_file, tmp_path, max_attempts=2)
    ref = CalendarRef("manager", "manager@example.com", "manager@example.com")
    fake.faults.fail_next(RATE_LIMIT_429, match="freeBusy", times=2)
    with pytest.raises(TransientError, match="manager"):
        connector.busy([ref], WINDOW_START, WINDOW_END)


# --- changes ----------------------------------------------------------------------------


def test_changes_read_every_page_and_filter_our_events(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    for day in range(2, 7):
        h.add_busy("manager", at(day, 8), at(day, 9), summary="Someone else's")
    events = [session(h, "seller1", at(d, 10)) for d in range(10, 17)]
    h.connector.create(events)
    answer = h.connector.changes(h.ref("manager"), None, WINDOW_START, WINDOW_END)
    lists = list(fake.api_calls(kind="GET /calendar/v3/calendars/"))
    assert len(lists) == 6  # 12 events, 2 per page
    assert {e.key for e in answer.events} == {e.key for e in events}
    # Incremental reads go without window or tag filter (Google refuses them).
    fake.reset_stats()
    h.connector.changes(h.ref("manager"), answer.cursor, WINDOW_START, WINDOW_END)
    (call,) = fake.api_calls()
    assert "syncToken" in call.params and "timeMin" not in call.params


def test_expired_sync_token_is_a_transparent_full_read(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    event = session(h, "seller1", at(11, 9))
    h.connector.create([event])
    cursor = h.connector.changes(h.ref("manager"), None, WINDOW_START, WINDOW_END).cursor
    h.expire_cursor()
    fake.reset_stats()
    answer = h.connector.changes(h.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert answer.full and [e.key for e in answer.events] == [event.key]
    assert [c.status for c in fake.api_calls()] == [410, 200]


def test_refused_impersonation_fails_that_organisers_sessions_only(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    fake.add_user("manager@example.com")
    connector = make(fake, google_key_file, tmp_path)
    known = CalendarRef("manager", "manager@example.com", "manager@example.com")
    unknown = CalendarRef("left", "left@example.com", "left@example.com")
    lost, booked = connector.create(
        [session_for(unknown, at(5, 10)), session_for(known, at(5, 11))]
    )
    assert lost.outcome is Outcome.FAILED and "left@example.com" in (lost.error or "")
    assert "delegation" in (lost.error or "")
    assert booked.outcome is Outcome.CREATED


def test_check_reports_each_calendar(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    from connectors.google.check import run_check as check

    fake.add_user("manager@example.com")
    known = CalendarRef("manager", "manager@example.com", "manager@example.com")
    ghost = CalendarRef("ghost", "ghost@example.com", "ghost@example.com")
    lines = [
        str(f)
        for f in check(
            connector_options(fake, google_key_file),
            ConnectorContext(tmp_path),
            [known, ghost],
            [known, ghost],
        )
    ]
    assert "ok: free/busy of manager <manager@example.com>" in lines
    assert any(
        line.startswith("ok: calendar manager@example.com of manager") and "writable" in line
        for line in lines
    )
    ghost_lines = [line for line in lines if "ghost@" in line]
    assert len(ghost_lines) == 2 and all(line.startswith("problem") for line in ghost_lines)
    broken = [
        str(f)
        for f in check(
            {"service_account_file": str(tmp_path / "none.json")},
            ConnectorContext(tmp_path),
            [known],
        )
    ]
    assert len(broken) == 1 and broken[0].startswith("problem") and "none.json" in broken[0]


def test_a_batch_as_an_organisers_first_call_signs_in_through_the_configured_transport(
    google_harness: GoogleHarness, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client library refreshes a batch's expired token over a bare
    `httplib2.Http()` of its own, which ignores `proxy`, `ca_bundle` and
    `timeout_seconds` and obeys proxy environment variables. The connector signs in
    over its own transport before the batch, so the library never needs to."""
    import googleapiclient._auth as library_auth

    def bare_http(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the token was fetched over the library's own bare Http()")

    h = google_harness
    monkeypatch.setattr(library_auth.httplib2, "Http", bare_http)
    events = [session(h, "seller1", at(11, 9)), session(h, "seller2", at(11, 14))]
    fake.reset_stats()
    results = h.connector.create(events)
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CREATED]
    assert fake.stats["token"] == 1 and fake.stats["api"] == 1  # one sign-in, one batch
