"""Our events as a CalDAV server holds them: one resource, its ETag, its VCALENDAR.

Shared by the connector (create/update) and the change reader, and free of I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import icalendar

from connectors.base import SESSION_TAG
from connectors.ics import events as ics_events


class CalendarMissing(Exception):
    """A calendar collection the server does not have (or does not let us read)."""


class BadCalendarRef(Exception):
    """A person's calendar settings we cannot use (another server, unknown zone)."""


class DavFailed(Exception):
    """A request that did not do its job; `retryable` when a later run may succeed."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Stored:
    """One of our events on the server: the whole resource is kept, so a write puts
    back what a client added (VTIMEZONEs, alarms, overridden occurrences)."""

    path: str  # decoded href: the event id we hand out
    etag: str | None
    calendar: icalendar.Calendar
    vevent: icalendar.Event  # the master VEVENT carrying our key

    @property
    def cancelled(self) -> bool:
        return str(self.vevent.get("STATUS", "")).upper() == "CANCELLED"


def masters(calendar: icalendar.Calendar) -> Iterator[icalendar.Event]:
    for component in calendar.walk("VEVENT"):
        if component.get("RECURRENCE-ID") is None and isinstance(component, icalendar.Event):
            yield component


def key_in(vevent: icalendar.Component) -> str | None:
    tag = vevent.get(SESSION_TAG)
    uid = vevent.get("UID")
    return ics_events.key_of(str(uid) if uid is not None else None, str(tag) if tag else None)


def ours(path: str, etag: str | None, data: str, key: str | None = None) -> Stored | None:
    """The resource as `Stored` if it holds session `key` (any session when None)."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError:
        return None
    for vevent in masters(calendar):
        found = key_in(vevent)
        if found is not None and (key is None or found == key):
            return Stored(path, etag, calendar, vevent)
    return None


def same_stamp(stored: icalendar.Component, sent: icalendar.Component) -> bool:
    """Whether the stored event is the very one we sent (a lost answer, not a prior run):
    DTSTAMP is taken from our clock at send time, to the second."""
    mine, theirs = sent.get("DTSTAMP"), stored.get("DTSTAMP")
    # Compared as written: the value we hold still has the microseconds iCalendar drops.
    return mine is not None and theirs is not None and mine.to_ical() == theirs.to_ical()
