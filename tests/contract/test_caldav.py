"""The connector contract suite run against the `caldav` connector and a real Radicale.

One Radicale serves the whole module (starting it is the slow part); each test gets
fresh, empty calendars under its own prefix, so tests never see each other's events.
The harness acts on the server the way people's calendar clients would, over plain
HTTP with its own client: PUT unrelated events, record an attendee's reply
(PARTSTAT) on the organiser's copy, drag or delete the event, and forget the sync
tokens (what Radicale does itself after `max_sync_token_age`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import icalendar
import pytest

from connectors.base import (
    BusyKind,
    CalendarConnector,
    CalendarRef,
    ConnectorContext,
    Response,
)
from connectors.caldav.connector import CaldavConnector, open_connector
from connectors.caldav.items import key_in
from connectors.ics.events import set_partstat
from tests.contract.harness import PEOPLE, busy_vevent
from tests.contract.suite import NoMeetingsContract
from tests.fakes.radicale_server import USERS, RadicaleServer, running_radicale

_PARTSTAT = {
    Response.ACCEPTED: "ACCEPTED",
    Response.DECLINED: "DECLINED",
    Response.TENTATIVE: "TENTATIVE",
    Response.NEEDS_ACTION: "NEEDS-ACTION",
}
SERVICE_USER = "coachpass"
PASSWORD_ENV = "COACHPASS_TEST_CALDAV_PASSWORD"


class CaldavHarness:
    """Calendars `/<prefix>-<person>/calendar/` on the shared server."""

    def __init__(self, server: RadicaleServer, tmp_path: Path, **options: object) -> None:
        self.server = server
        self.prefix = uuid.uuid4().hex[:10]
        # The "client" of the people themselves: same server, its own connection.
        self.client = httpx.Client(
            base_url=server.url, auth=(SERVICE_USER, USERS[SERVICE_USER]), trust_env=False
        )
        for person in PEOPLE:
            self.make_calendar(self.calendar_path(person))
        connector = open_connector(
            {
                "url": server.url,
                "username": SERVICE_USER,
                "password_env": PASSWORD_ENV,
                "organizer_name": "Manager",
                **options,
            },
            ConnectorContext(base_dir=tmp_path),
        )
        assert isinstance(connector, CaldavConnector)
        # Typed as the protocol: the suite may only use what every connector offers.
        self.connector: CalendarConnector = connector

    def make_calendar(self, path: str) -> None:
        home = path.rsplit("/", 2)[0] + "/"
        assert self.client.request("MKCOL", home).status_code == 201
        assert self.client.request("MKCALENDAR", path).status_code == 201

    def calendar_path(self, person_id: str) -> str:
        return f"/{self.prefix}-{person_id}/calendar/"

    def ref(self, person_id: str) -> CalendarRef:
        email, zone = PEOPLE[person_id]
        # Relative to the connector's `url`, as a config would write it.
        return CalendarRef(person_id, email, self.calendar_path(person_id).lstrip("/"), zone)

    def put_event(self, person_id: str, vevent: icalendar.Event) -> str:
        calendar = icalendar.Calendar()
        calendar.add("VERSION", "2.0")
        calendar.add("PRODID", "-//Some Client//EN")
        calendar.add_component(vevent)
        calendar.add_missing_timezones()
        href = f"{self.calendar_path(person_id)}{uuid.uuid4()}.ics"
        answer = self.client.put(
            href, content=calendar.to_ical(), headers={"Content-Type": "text/calendar"}
        )
        assert answer.status_code == 201, answer.text
        return href

    def add_busy(
        self,
        person_id: str,
        start: datetime,
        end: datetime,
        *,
        kind: BusyKind = BusyKind.BUSY,
        summary: str = "Meeting",
    ) -> None:
        vevent = busy_vevent(start, end, kind, summary)
        self.put_event(person_id, vevent)

    def items(self, person_id: str) -> list[tuple[str, str, icalendar.Calendar]]:
        """(href, etag, calendar) of every resource in the person's calendar."""
        body = (
            '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
            '</D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>'
        )
        answer = self.client.request(
            "REPORT", self.calendar_path(person_id), content=body, headers={"Depth": "1"}
        )
        assert answer.status_code == 207, answer.text
        from connectors.caldav.protocol import parse_multistatus

        found = []
        for resource in parse_multistatus(answer.content).resources:
            assert resource.calendar_data and resource.etag
            calendar = icalendar.Calendar.from_ical(resource.calendar_data)
            found.append((resource.href, resource.etag, calendar))
        return found

    def _edit(self, key: str, edit: object) -> None:
        for href, etag, calendar in self.items("manager"):
            for vevent in calendar.walk("VEVENT"):
                if key_in(vevent) == key:
                    edit(vevent)  # type: ignore[operator]
                    answer = self.client.put(
                        href,
                        content=calendar.to_ical(),
                        headers={"Content-Type": "text/calendar", "If-Match": etag},
                    )
                    assert answer.status_code in (201, 204), answer.text
                    return
        raise AssertionError(f"no event {key} in the manager's calendar")

    def respond(self, key: str, person_id: str, response: Response) -> None:
        email = PEOPLE[person_id][0]
        # What the organiser's server records when the attendee's iTIP REPLY arrives.
        self._edit(key, lambda vevent: set_partstat(vevent, email, _PARTSTAT[response]))

    def cancel_in_calendar(self, key: str) -> None:
        # The organiser deletes the event outright: the harder case for a cursor.
        for href, _etag, calendar in self.items("manager"):
            if any(key_in(v) == key for v in calendar.walk("VEVENT")):
                assert self.client.delete(href).status_code in (200, 204)
                return
        raise AssertionError(f"no event {key} in the manager's calendar")

    def move_in_calendar(self, key: str, start: datetime, end: datetime) -> None:
        def drag(vevent: icalendar.Event) -> None:
            for name in ("DTSTART", "DTEND"):
                vevent.pop(name)
            vevent.add("DTSTART", start)  # written with TZID, as clients do
            vevent.add("DTEND", end)

        self._edit(key, drag)

    def count_events(self, key: str) -> int:
        return sum(
            1
            for _href, _etag, calendar in self.items("manager")
            for vevent in calendar.walk("VEVENT")
            if key_in(vevent) == key
        )

    def expire_cursor(self) -> None:
        # Radicale names a token after the collection's state and accepts it unread
        # while that state is unchanged; only a token for an older state needs the
        # history. So: forget the history, then change the calendar (a colleague adds
        # a meeting), and every token handed out so far is unknown to the server.
        self.server.forget_sync_tokens(self.calendar_path("manager"))
        self.add_busy(
            "manager", datetime(2031, 3, 3, 8, tzinfo=UTC), datetime(2031, 3, 3, 9, tzinfo=UTC)
        )

    def close(self) -> None:
        self.connector.close()
        self.client.close()


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with running_radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture
def harness(
    radicale: RadicaleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CaldavHarness]:
    monkeypatch.setenv(PASSWORD_ENV, USERS[SERVICE_USER])
    made = CaldavHarness(radicale, tmp_path)
    yield made
    made.close()


class TestCaldavContract(NoMeetingsContract):
    pass


def test_a_moved_event_keeps_an_attendee_name_with_backslashes(harness: CaldavHarness) -> None:
    """A move rewrites the stored calendar: a name with `\\;` or a trailing `\\`
    reads back as written (icalendar's own writer lost the `;` and the address)."""
    from dataclasses import replace

    from connectors.base import Attendee, ChangeAction, EventChange
    from tests.contract.suite import at, session

    name = "Kim \\; Lee \\"
    event = session(harness, "seller1", at(12, 9))
    event = replace(event, attendees=(Attendee(event.attendees[0].email, name),))
    [created] = harness.connector.create([event])
    assert created.ok, created.error
    [moved] = harness.connector.update(
        [
            EventChange(
                event.key, event.organizer, ChangeAction.MOVE, start=at(13, 9), end=at(13, 10)
            )
        ]
    )
    assert moved.ok, moved.error
    [vevent] = [
        v
        for _h, _e, cal in harness.items("manager")
        for v in cal.walk("VEVENT")
        if key_in(v) == event.key
    ]
    attendee = vevent["ATTENDEE"]
    attendee = attendee[0] if isinstance(attendee, list) else attendee
    assert attendee.params["CN"] == name
    assert str(attendee).lower() == f"mailto:{event.attendees[0].email}".lower()
    assert vevent["DTSTART"].dt == at(13, 9)
