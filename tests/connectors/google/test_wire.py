"""The pure Google mappings: ids, event bodies, free/busy answers, error classes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import SESSION_TAG, Attendee, CalendarRef, NewEvent, Response
from connectors.google.wire import (
    event_body,
    event_state,
    failure_from,
    is_skinny,
    read_freebusy,
    valid_event_id,
    video_url_of,
    windows,
)
from scheduler.model import Month, session_key
from tests.fakes.google_schema import SchemaViolation, validate

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MANAGER = CalendarRef("m1", "boss@example.com", "boss@example.com", "Europe/Stockholm")


def new_event(**changes: object) -> NewEvent:
    values: dict[str, object] = {
        "key": "cp" + "0123456789abcdef" * 2,
        "organizer": MANAGER,
        "attendees": (Attendee("ann@example.com", "Ann"),),
        "start": datetime(2031, 3, 11, 9, tzinfo=STOCKHOLM),
        "end": datetime(2031, 3, 11, 9, 45, tzinfo=STOCKHOLM),
        "summary": "Coaching: Boss / Ann",
        "description_text": "Agenda\n- Wins <since> last time",
    }
    values.update(changes)
    return NewEvent(**values)  # type: ignore[arg-type]


@given(
    org=st.text(min_size=1, max_size=20),
    manager=st.text(min_size=1, max_size=20),
    seller=st.text(min_size=1, max_size=20),
    year=st.integers(2000, 2100),
    month=st.integers(1, 12),
    attempt=st.integers(0, 50),
)
def test_every_session_key_is_a_valid_google_event_id(
    org: str, manager: str, seller: str, year: int, month: int, attempt: int
) -> None:
    assert valid_event_id(session_key(org, manager, seller, Month(year, month), attempt))


@pytest.mark.parametrize("bad", ["abc", "CP0123", "cpw12345", "cp-12345", "x" * 5, "a" * 1025])
def test_ids_outside_base32hex_or_length_are_invalid(bad: str) -> None:
    assert not valid_event_id(bad)


def test_event_body_fits_the_discovery_schema_and_carries_what_invites_need() -> None:
    body = event_body(new_event(), "https://drive.google.com/file/d/abc/view")
    validate("Event", body)  # raises on an unknown field or a wrong type
    assert body["id"] == new_event().key
    assert body["extendedProperties"]["private"][SESSION_TAG] == body["id"]
    assert body["conferenceData"]["createRequest"]["conferenceSolutionKey"] == {
        "type": "hangoutsMeet"
    }
    assert body["attachments"][0]["fileUrl"] == "https://drive.google.com/file/d/abc/view"
    assert "https://drive.google.com/file/d/abc/view" in body["description"]
    assert "&lt;since&gt;" in body["description"]  # plain text is escaped for Google's HTML
    assert body["reminders"]["useDefault"] is False
    assert body["start"]["timeZone"] == "Europe/Stockholm"
    assert datetime.fromisoformat(body["start"]["dateTime"]) == new_event().start


def test_event_body_without_meeting_or_guidelines() -> None:
    body = event_body(new_event(online_meeting=False, video_url="https://video.example/r"))
    validate("Event", body)
    assert "conferenceData" not in body and "attachments" not in body
    assert "https://video.example/r" in body["description"]


def test_schema_check_rejects_unknown_fields_and_wrong_types() -> None:
    with pytest.raises(SchemaViolation, match="unknown field 'colour'"):
        validate("Event", {**event_body(new_event()), "colour": "red"})
    with pytest.raises(SchemaViolation, match="expected a string"):
        validate("Event", {**event_body(new_event()), "summary": 5})
    with pytest.raises(SchemaViolation, match="expected an integer"):
        validate("Event", {"reminders": {"overrides": [{"method": "popup", "minutes": "10"}]}})


def test_windows_split_long_ranges_without_gaps() -> None:
    start = datetime(2031, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=130)
    pieces = windows(start, end, 56)
    assert pieces[0][0] == start and pieces[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(pieces))
    assert all(e - s <= timedelta(days=56) for s, e in pieces)
    assert len(pieces) == 3
    assert windows(start, start + timedelta(days=31), 56) == [(start, start + timedelta(days=31))]


def test_freebusy_errors_name_the_person_and_never_read_as_free() -> None:
    people = [
        CalendarRef("ann", "ann@example.com", "ann@example.com"),
        CalendarRef("bob", "bob@example.com", "bob-cal@example.com"),
        CalendarRef("cid", "cid@example.com", "cid@example.com"),
    ]
    answer = {
        "calendars": {
            "ann@example.com": {
                "busy": [{"start": "2031-03-04T09:00:00Z", "end": "2031-03-04T10:00:00Z"}]
            },
            "bob-cal@example.com": {
                "errors": [{"domain": "global", "reason": "notFound"}],
                "busy": [],
            },
        }
    }
    intervals, errors = read_freebusy(answer, people)
    assert set(intervals) == {"ann"}
    assert intervals["ann"][0].start == datetime(2031, 3, 4, 9, tzinfo=UTC)
    assert "bob" in errors["bob"] and "notFound" in errors["bob"] and "bob-cal" in errors["bob"]
    assert "cid" in errors  # missing from the answer: unknown, not free


@pytest.mark.parametrize(
    ("status", "reason", "retry"),
    [
        (429, "rateLimitExceeded", True),
        (503, "backendError", True),
        (500, "backendError", True),
        (403, "rateLimitExceeded", True),
        (403, "userRateLimitExceeded", True),
        (403, "forbidden", False),
        (403, "quotaExceeded", False),  # the daily quota: waiting seconds will not help
        (404, "notFound", False),
        (409, "duplicate", False),
    ],
)
def test_failure_classification(status: int, reason: str, retry: bool) -> None:
    content = json.dumps(
        {"error": {"errors": [{"reason": reason}], "code": status, "message": "m"}}
    )
    failure = failure_from(status, content.encode(), "7" if status == 429 else None)
    assert failure.reason == reason
    assert failure.retryable is retry
    assert failure.retry_after == (7.0 if status == 429 else None)


def test_event_state_maps_responses_times_and_cancellation() -> None:
    item = {
        "id": "cpabc12",
        "status": "cancelled",
        "start": {"dateTime": "2031-03-11T09:00:00+01:00"},
        "end": {"dateTime": "2031-03-11T09:45:00", "timeZone": "Europe/Stockholm"},
        "extendedProperties": {"private": {SESSION_TAG: "cpabc12"}},
        "attendees": [
            {"email": "Ann@Example.com", "responseStatus": "declined"},
            {"email": "bob@example.com", "responseStatus": "tentative"},
            {"email": "cid@example.com"},
            {"email": "boss@example.com", "organizer": True, "responseStatus": "accepted"},
        ],
        "conferenceData": {
            "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/a-b-c"}]
        },
    }
    state = event_state(item)
    assert state is not None and state.cancelled and state.key == "cpabc12"
    assert state.end - state.start == timedelta(minutes=45)
    assert state.responses == {
        "ann@example.com": Response.DECLINED,
        "bob@example.com": Response.TENTATIVE,
        "cid@example.com": Response.NEEDS_ACTION,
    }
    assert video_url_of(item) == "https://meet.google.com/a-b-c"
    assert event_state({**item, "extendedProperties": {}}) is None  # not ours
    assert is_skinny({"id": "cpabc12", "status": "cancelled"})
    assert not is_skinny(item)


def test_retry_after_as_http_date() -> None:
    from email.utils import format_datetime

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    failure = failure_from(503, b"{}", later)
    assert failure.retry_after is not None and 25 <= failure.retry_after <= 31
