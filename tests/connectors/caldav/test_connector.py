"""The `caldav` connector against a real Radicale, beyond the shared contract: bad
credentials, missing calendars, recurring series, lost answers, throttling, write
races... (faults: test_caldav_faults.py) and cursors the server no longer knows."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)
from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from connectors import open_connector as open_by_name
from connectors.base import (
    Attendee,
    AuthError,
    Busy,
    BusyKind,
    CalendarRef,
    ChangeAction,
    ConnectorContext,
    ConnectorUserError,
    EventChange,
    NewEvent,
    Outcome,
    SecretError,
)
from connectors.caldav.changes import CaldavCursor, decode, encode
from connectors.caldav.connector import CaldavConnector, make_connector
from tests.contract.suite import WINDOW_END, WINDOW_START, at, session
from tests.contract.test_caldav import PASSWORD_ENV, SERVICE_USER, CaldavHarness, harness, radicale  # noqa: F401  (fixtures)
from tests.fakes.radicale_server import USERS, FaultyTransport, running_radicale

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")


# The Radicale server and the contract harness are shared with the contract suite.


class Faulty:
    """A second connector on the harness's calendars, through a `FaultyTransport`,
    recording the waits it asked for instead of sleeping."""

    def __init__(self, harness: CaldavHarness, password: str = USERS[SERVICE_USER]) -> None:
        self.transport = FaultyTransport()
        self.waits: list[float] = []
        self.connector: CaldavConnector = make_connector(
            harness.server.url,
            SERVICE_USER,
            password,
            secret_source=f"environment variable {PASSWORD_ENV}",
            max_attempts=4,
            transport=self.transport,
            sleep=self.waits.append,
        )


def is_put(request: httpx.Request) -> bool:
    return request.method == "PUT"


# --- credentials and configuration ---------------------------------------------------


def test_wrong_password_names_server_and_user_never_the_password(
    harness: CaldavHarness,
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    faulty = Faulty(harness, password=wrong)
    calls: list[Callable[[], object]] = [
        lambda: faulty.connector.busy([harness.ref("seller1")], WINDOW_START, WINDOW_END),
        lambda: faulty.connector.create([session(harness, "seller1", at(11, 9))]),
        lambda: faulty.connector.changes(harness.ref("manager"), None, WINDOW_START, WINDOW_END),
    ]
    for call in calls:
        with pytest.raises(AuthError) as caught:
            call()
        message = str(caught.value)
        assert isinstance(caught.value, ConnectorUserError)
        assert harness.server.url.rstrip("/") in message
        assert repr(SERVICE_USER) in message
        assert PASSWORD_ENV in message  # where to fix it
        assert wrong not in message and USERS[SERVICE_USER] not in message
    # A 401 is not retried: the same wrong password would only lock the account.
    assert len(faulty.transport.seen) == 3


def test_open_connector_by_name_and_its_user_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = ConnectorContext(base_dir=tmp_path)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(SecretError, match="NOT_SET_ANYWHERE"):
        open_by_name(
            "caldav",
            {"url": "http://127.0.0.1:1/", "username": "u", "password_env": "NOT_SET_ANYWHERE"},
            context,
        )
    with pytest.raises(ConnectorUserError, match="url"):
        open_by_name("caldav", {"username": "u", "password_env": "X"}, context)
    with pytest.raises(ConnectorUserError, match="username"):
        open_by_name("caldav", {"url": "http://127.0.0.1:1/", "password_env": "X"}, context)
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    connector = open_by_name(
        "caldav",
        {"url": "http://127.0.0.1:1/dav", "username": "u", "password_file": str(secret)},
        context,
    )
    assert connector.name == "caldav"
    connector.close()


def test_calendar_on_another_host_gets_no_credentials(harness: CaldavHarness) -> None:
    faulty = Faulty(harness)
    elsewhere = CalendarRef("seller1", "seller1@example.com", "http://198.51.100.7/cal/", "UTC")
    answer = faulty.connector.busy([elsewhere, harness.ref("seller2")], WINDOW_START, WINDOW_END)
    assert "seller1" in answer.errors and "198.51.100.7" not in str(faulty.transport.seen)
    assert "not on the CalDAV server" in answer.errors["seller1"]
    assert answer.intervals["seller2"] == ()


# --- busy ---------------------------------------------------------------------------


def test_missing_calendar_is_an_error_entry_never_free(harness: CaldavHarness) -> None:
    harness.add_busy("seller2", at(4, 10), at(4, 11))
    missing = CalendarRef("seller1", "seller1@example.com", f"{harness.prefix}-nobody/cal/")
    answer = harness.connector.busy([missing, harness.ref("seller2")], WINDOW_START, WINDOW_END)
    assert "seller1" not in answer.intervals
    assert "seller1" in answer.errors
    assert "seller1@example.com" in answer.errors["seller1"]
    assert f"{harness.prefix}-nobody/cal/" in answer.errors["seller1"]
    assert answer.intervals["seller2"]  # the others are still read


def test_recurring_series_with_exdate_is_expanded_in_its_own_zone(
    harness: CaldavHarness,
) -> None:
    # Weekly on Tuesdays at 10:00 Stockholm from February; 18 March cancelled by EXDATE.
    # Sweden moves to summer time on 30 March 2031: the 1 April occurrence is still 10:00
    # local, i.e. 08:00 UTC rather than 09:00.
    first = datetime(2031, 2, 4, 10, tzinfo=STOCKHOLM)
    series = icalendar.Event()
    series.add("UID", f"{uuid.uuid4()}@client.example.com")
    series.add("DTSTAMP", datetime.now(UTC))
    series.add("DTSTART", first)
    series.add("DTEND", first + timedelta(hours=1))
    series.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 12})
    series.add("EXDATE", datetime(2031, 3, 18, 10, tzinfo=STOCKHOLM))
    series.add("SUMMARY", "Team sync")
    harness.put_event("seller1", series)

    intervals = harness.connector.busy([harness.ref("seller1")], WINDOW_START, WINDOW_END)
    starts = sorted(b.start.astimezone(UTC) for b in intervals.intervals["seller1"])
    expected = [
        datetime(2031, 3, 4, 9, tzinfo=UTC),
        datetime(2031, 3, 11, 9, tzinfo=UTC),
        datetime(2031, 3, 25, 9, tzinfo=UTC),
        datetime(2031, 4, 1, 8, tzinfo=UTC),
    ]
    assert starts == expected
    assert all(b.end - b.start == timedelta(hours=1) for b in intervals.intervals["seller1"])


def test_all_day_and_free_events_read_in_the_owners_zone(harness: CaldavHarness) -> None:
    holiday = icalendar.Event()
    holiday.add("UID", f"{uuid.uuid4()}@client.example.com")
    holiday.add("DTSTAMP", datetime.now(UTC))
    holiday.add("DTSTART", date(2031, 3, 20))
    holiday.add("DTEND", date(2031, 3, 21))
    holiday.add("SUMMARY", "Day off")
    harness.put_event("seller2", holiday)
    harness.add_busy("seller2", at(21, 9, tz=NEW_YORK), at(21, 10, tz=NEW_YORK))
    free = icalendar.Event()
    free.add("UID", f"{uuid.uuid4()}@client.example.com")
    free.add("DTSTAMP", datetime.now(UTC))
    free.add("DTSTART", at(22, 9, tz=NEW_YORK))
    free.add("DTEND", at(22, 17, tz=NEW_YORK))
    free.add("TRANSP", "TRANSPARENT")
    harness.put_event("seller2", free)

    intervals = harness.connector.busy([harness.ref("seller2")], WINDOW_START, WINDOW_END)
    got = intervals.intervals["seller2"]
    day = (datetime(2031, 3, 20, tzinfo=NEW_YORK), datetime(2031, 3, 21, tzinfo=NEW_YORK))
    assert any(b.start == day[0] and b.end == day[1] and b.kind is BusyKind.BUSY for b in got)
    assert not any(
        b.start < at(22, 17, tz=NEW_YORK) and b.end > at(22, 9, tz=NEW_YORK) for b in got
    )


# --- create -------------------------------------------------------------------------


def test_create_into_missing_calendar_fails_naming_the_organiser(
    harness: CaldavHarness,
) -> None:
    event = session(harness, "seller1", at(11, 9))
    nowhere = CalendarRef("manager", "manager@example.com", f"{harness.prefix}-gone/cal/")
    event = replace(event, organizer=nowhere)
    (result,) = harness.connector.create([event])
    assert result.outcome is Outcome.FAILED and not result.retryable
    assert result.error and "manager@example.com" in result.error


def test_same_uid_under_another_name_is_adopted(harness: CaldavHarness) -> None:
    """A client re-saved our event under its own file name: a new PUT at `<key>.ics`
    would clash on the UID (409 no-uid-conflict); the event is found and adopted."""
    event = session(harness, "seller1", at(11, 9))
    (created,) = harness.connector.create([event])
    (_href, _etag, calendar) = next(
        item for item in harness.items("manager") if item[0] == created.event_id
    )
    other = f"{harness.calendar_path('manager')}{uuid.uuid4()}.ics"
    assert harness.client.delete(created.event_id or "").status_code in (200, 204)
    assert harness.client.put(other, content=calendar.to_ical()).status_code == 201
    (again,) = harness.connector.create([event])
    assert again.outcome is Outcome.EXISTED and again.event_id == other
    cancel = EventChange(event.key, event.organizer, ChangeAction.CANCEL)
    assert harness.connector.update([cancel])[0].outcome is Outcome.CANCELLED
    assert harness.count_events(event.key) == 1


# --- update -------------------------------------------------------------------------


def test_move_of_missing_event_fails_and_cancel_is_gone(harness: CaldavHarness) -> None:
    manager = harness.ref("manager")
    key = "cp" + uuid.uuid4().hex
    move = EventChange(key, manager, ChangeAction.MOVE, None, at(20, 9), at(20, 10))
    cancel = EventChange("cp" + uuid.uuid4().hex, manager, ChangeAction.CANCEL)
    moved, cancelled = harness.connector.update([move, cancel])
    assert moved.outcome is Outcome.FAILED and moved.error and key in moved.error
    assert cancelled.outcome is Outcome.GONE


# --- changes ------------------------------------------------------------------------


def test_garbage_token_in_a_cursor_of_ours_is_a_full_read(harness: CaldavHarness) -> None:
    event = session(harness, "seller1", at(11, 9))
    harness.connector.create([event])
    first = harness.connector.changes(harness.ref("manager"), None, WINDOW_START, WINDOW_END)
    cursor = decode(first.cursor)
    assert cursor is not None and cursor.token
    for token in ("garbage", "http://radicale.org/ns/sync/" + "0" * 64):
        forged = encode(CaldavCursor(cursor.calendar, token, cursor.known))
        answer = harness.connector.changes(harness.ref("manager"), forged, WINDOW_START, WINDOW_END)
        assert answer.full and [s.key for s in answer.events] == [event.key]


def test_cursor_of_another_calendar_is_a_full_read(harness: CaldavHarness) -> None:
    event = session(harness, "seller1", at(11, 9))
    harness.connector.create([event])
    seller_cursor = harness.connector.changes(
        harness.ref("seller1"), None, WINDOW_START, WINDOW_END
    ).cursor
    answer = harness.connector.changes(
        harness.ref("manager"), seller_cursor, WINDOW_START, WINDOW_END
    )
    assert answer.full and event.key in {s.key for s in answer.events}


def test_created_and_deleted_between_reads_is_removed(harness: CaldavHarness) -> None:
    cursor = harness.connector.changes(
        harness.ref("manager"), None, WINDOW_START, WINDOW_END
    ).cursor
    event = session(harness, "seller1", at(11, 9))
    harness.connector.create([event])
    harness.cancel_in_calendar(event.key)
    answer = harness.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert answer.removed == (event.key,) and answer.events == ()


def test_foreign_events_are_not_reported_by_changes(harness: CaldavHarness) -> None:
    cursor = harness.connector.changes(
        harness.ref("manager"), None, WINDOW_START, WINDOW_END
    ).cursor
    harness.add_busy("manager", at(6, 10), at(6, 11))
    answer = harness.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert answer.events == () and answer.removed == () and not answer.full


def test_event_moved_out_of_the_window_stays_followed(harness: CaldavHarness) -> None:
    event = session(harness, "seller1", at(11, 9))
    harness.connector.create([event])
    cursor = harness.connector.changes(
        harness.ref("manager"), None, WINDOW_START, WINDOW_END
    ).cursor
    later = datetime(2031, 5, 6, 9, tzinfo=STOCKHOLM)
    harness.move_in_calendar(event.key, later, later + timedelta(minutes=45))
    answer = harness.connector.changes(harness.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert [(s.key, s.start) for s in answer.events] == [(event.key, later)]


def test_collection_that_is_not_a_calendar_is_an_error_not_free(harness: CaldavHarness) -> None:
    # The person's home collection: Radicale answers a calendar-query there with an
    # empty 207, which would read as "free all month".
    home = CalendarRef("seller1", "seller1@example.com", f"{harness.prefix}-seller1/")
    answer = harness.connector.busy([home, harness.ref("seller2")], WINDOW_START, WINDOW_END)
    assert "seller1" not in answer.intervals
    assert "not a calendar collection" in answer.errors["seller1"]
    assert answer.intervals["seller2"] == ()  # an empty calendar is still an answer
    with pytest.raises(ConnectorUserError, match=re.escape("seller1@example.com")):
        harness.connector.changes(home, None, WINDOW_START, WINDOW_END)


def test_calendar_template_for_people_without_a_calendar_path(harness: CaldavHarness) -> None:
    harness.add_busy("seller1", at(4, 10), at(4, 11))
    by_email = CalendarRef("seller1", "seller1@example.com", "seller1@example.com")
    templated = make_connector(
        harness.server.url,
        SERVICE_USER,
        USERS[SERVICE_USER],
        calendar_template=f"{harness.prefix}-{{user}}/calendar/",
    )
    answer = templated.busy([by_email], WINDOW_START, WINDOW_END)
    assert [(b.start, b.end) for b in answer.intervals["seller1"]] == [(at(4, 10), at(4, 11))]
    broken = make_connector(
        harness.server.url, SERVICE_USER, USERS[SERVICE_USER], calendar_template="{nope}/"
    )
    answer = broken.busy([by_email], WINDOW_START, WINDOW_END)
    assert "calendar_template" in answer.errors["seller1"]
    templated.close()
    broken.close()


def test_update_in_a_missing_calendar_fails_rather_than_gone(harness: CaldavHarness) -> None:
    nowhere = CalendarRef("manager", "manager@example.com", f"{harness.prefix}-gone/cal/")
    cancel = EventChange("cp" + uuid.uuid4().hex, nowhere, ChangeAction.CANCEL)
    (result,) = harness.connector.update([cancel])
    assert result.outcome is Outcome.FAILED
    assert result.error and f"{harness.prefix}-gone/cal/" in result.error


def test_calendar_the_account_may_not_read_is_an_error_entry(tmp_path: Path) -> None:
    """With `owner_only` rights, alice may not read coachpass's calendars: 403."""
    with running_radicale(tmp_path, rights="owner_only") as server:
        owner = httpx.Client(
            base_url=server.url, auth=(SERVICE_USER, USERS[SERVICE_USER]), trust_env=False
        )
        owner.request("MKCOL", f"/{SERVICE_USER}/")  # Radicale may have made it at login
        assert owner.request("MKCALENDAR", f"/{SERVICE_USER}/cal/").status_code == 201
        owner.close()
        alice = make_connector(server.url, "alice", USERS["alice"])
        ref = CalendarRef("seller1", "seller1@example.com", f"{SERVICE_USER}/cal/")
        answer = alice.busy([ref], WINDOW_START, WINDOW_END)
        assert "seller1" not in answer.intervals
        assert "403" in answer.errors["seller1"] and "rights" in answer.errors["seller1"]
        (result,) = alice.create([session_for(ref)])
        assert result.outcome is Outcome.FAILED and result.error and "403" in result.error
        alice.close()


def session_for(organizer: CalendarRef) -> NewEvent:
    start = at(11, 9)
    return NewEvent(
        key="cp" + uuid.uuid4().hex,
        organizer=organizer,
        attendees=(Attendee("seller2@example.com"),),
        start=start,
        end=start + timedelta(minutes=45),
        summary="Coaching",
        description_text="Agenda",
    )


def test_busy_reads_resources_with_the_local_connectors_checks_and_limits(
    radicale: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calendar above a limit, or with an event that does not read, is an error for its
    owner naming the resource (never free time); the others go on (ics.read)."""
    from tests.contract.test_caldav import RadicaleServer

    assert isinstance(radicale, RadicaleServer)
    monkeypatch.setenv(PASSWORD_ENV, USERS[SERVICE_USER])
    limited = CaldavHarness(radicale, tmp_path, max_occurrences=20)
    try:
        daily = icalendar.Event()
        daily.add("UID", "daily@client.example.com")
        daily.add("DTSTAMP", datetime(2031, 1, 1, tzinfo=UTC))
        daily.add("DTSTART", datetime(2031, 3, 1, 9, tzinfo=UTC))
        daily.add("DTEND", datetime(2031, 3, 1, 10, tzinfo=UTC))
        daily.add("RRULE", {"FREQ": "DAILY"})
        href = limited.put_event("seller1", daily)
        limited.add_busy("seller2", at(4, 10), at(4, 11))
        refs = [limited.ref("seller1"), limited.ref("seller2")]
        answer = limited.connector.busy(refs, WINDOW_START, WINDOW_END)
        assert answer.intervals["seller2"] == (Busy(at(4, 10), at(4, 11)),)
        ref = limited.ref("seller1")
        assert answer.errors == {
            "seller1": f"calendar of seller1 ({ref.email}): {ref.calendar_id} has more than 20 "
            "occurrences between 2031-02-28 and 2031-04-02 (max_occurrences, options of the "
            f"caldav connector); the most from {href}, line 4, event daily@client.example.com "
            "(FREQ=DAILY)"
        }
    finally:
        limited.close()
