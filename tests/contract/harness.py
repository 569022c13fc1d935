"""What the connector contract suite needs from each back end's test plug-in.

A harness wraps one connector and a way to act on its calendars *from the outside*
(as a person in their own calendar client would): add an unrelated meeting, decline
an invitation, cancel or move an event, break a sync cursor. For the local connector
that means editing the .ics files; for Google and Graph, calling the fake server's
test controls. The suite (tests/contract/suite.py) then checks the connector only
through the `CalendarConnector` protocol.

People every harness knows, by id: "manager" (organiser), "seller1", "seller2",
"seller3". Their time zones: manager Europe/Stockholm, seller1 Europe/Stockholm,
seller2 America/New_York, seller3 Europe/London.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

import icalendar

from connectors.base import BusyKind, CalendarConnector, CalendarRef, Response

PEOPLE: dict[str, tuple[str, str]] = {
    "manager": ("manager@example.com", "Europe/Stockholm"),
    "seller1": ("seller1@example.com", "Europe/Stockholm"),
    "seller2": ("seller2@example.com", "America/New_York"),
    "seller3": ("seller3@example.com", "Europe/London"),
}


class Harness(Protocol):
    connector: CalendarConnector

    def ref(self, person_id: str) -> CalendarRef:
        """The CalendarRef of one of PEOPLE."""
        ...

    def add_busy(
        self,
        person_id: str,
        start: datetime,
        end: datetime,
        *,
        kind: BusyKind = BusyKind.BUSY,
        summary: str = "Meeting",
    ) -> None:
        """Put an unrelated event in the person's calendar."""
        ...

    def respond(self, key: str, person_id: str, response: Response) -> None:
        """The attendee answers the invitation of session `key` (as seen by the organiser)."""
        ...

    def cancel_in_calendar(self, key: str) -> None:
        """The organiser cancels/deletes the event in their own calendar client."""
        ...

    def move_in_calendar(self, key: str, start: datetime, end: datetime) -> None:
        """The organiser drags the event to another time in their own client."""
        ...

    def count_events(self, key: str) -> int:
        """How many events carrying session `key` exist in the organiser's calendar
        (cancelled ones included): the suite asserts this is never more than one."""
        ...

    def expire_cursor(self) -> None:
        """Make every sync cursor handed out so far invalid (Google 410, Graph 410)."""
        ...


def busy_vevent(start: datetime, end: datetime, kind: BusyKind, summary: str) -> icalendar.Event:
    """An unrelated meeting as a calendar client writes it, for iCalendar back ends:
    out of office the way Outlook exports it, tentative as STATUS:TENTATIVE."""
    vevent = icalendar.Event()
    vevent.add("UID", f"{uuid.uuid4()}@client.example.com")
    vevent.add("DTSTAMP", datetime.now(UTC))
    vevent.add("DTSTART", start)
    vevent.add("DTEND", end)
    vevent.add("SUMMARY", summary)
    if kind is BusyKind.OOF:
        vevent.add("X-MICROSOFT-CDO-BUSYSTATUS", "OOF")
    elif kind is BusyKind.TENTATIVE:
        vevent.add("STATUS", "TENTATIVE")
    return vevent
