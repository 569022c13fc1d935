"""`changes` for ICS calendars: our events in the organiser's calendar, and what
differs from what a cursor last described (see `ics.cursor` for the cursor)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path

import icalendar

from connectors.base import ChangeSet, EventState
from connectors.ics import cursor as ics_cursor
from connectors.ics import events as ics_events
from connectors.ics.busy import parse_calendars
from connectors.ics.files import (
    calendar_files,
    calendar_level_property,
    empty_calendar,
    read_text,
    vevent_spans,
)
from connectors.ics.zones import vtimezones

#: Calendar property whose change invalidates every cursor of that calendar.
EPOCH_PROPERTY = "X-COACHPASS-EPOCH"


def our_events(path: Path, organizer_email: str, zone: tzinfo) -> tuple[dict[str, EventState], str]:
    """Sessions organised by `organizer_email` in the calendar at `path`, and its epoch."""
    owner = organizer_email.strip().lower()
    states: dict[str, EventState] = {}
    epoch = "0"
    for index, file in enumerate(calendar_files(path)):
        text = read_text(file)
        _check_calendar(file, text)
        if index == 0 and not path.is_dir():
            epoch = calendar_level_property(text, EPOCH_PROPERTY) or "0"
        zones = vtimezones(text)
        for span in vevent_spans(text):
            key = ics_events.key_of(span.uid, span.tag)
            if key is None:
                continue
            # With the file's VTIMEZONEs, so a TZID the organiser's client wrote
            # (even a custom one) reads right.
            vevent = _parse_with_zones(text[span.start : span.end], zones)
            # Copies of other organisers' sessions (we are an attendee) are not ours.
            if ics_events.organizer_email(vevent) not in (None, owner):
                continue
            state = ics_events.event_state(vevent, key, zone)
            if state is not None:
                states[key] = state
    return states, epoch


def _check_calendar(file: Path, text: str) -> None:
    """Raise ValueError unless `text` is one whole VCALENDAR. The event scanner is
    lenient, so a damaged or truncated file would otherwise read as a calendar
    without our events, and absence would look like deletion."""
    body = text.lstrip("\ufeff \t\r\n").upper()
    if not body.startswith("BEGIN:VCALENDAR") or "END:VCALENDAR" not in body[-200:]:
        raise ValueError(f"{file} is not a whole iCalendar file (BEGIN/END:VCALENDAR missing)")


def change_set(
    current: Mapping[str, EventState],
    identity: str,
    epoch: str,
    cursor: str | None,
    start: datetime,
    end: datetime,
) -> ChangeSet:
    """Full read when the cursor is missing, foreign or of another epoch; otherwise
    the events whose digest differs (or that entered the window) and removed keys.

    An event the cursor knew stays tracked even after it moved out of the window, so
    the reconciler hears where it went.
    """
    previous = ics_cursor.decode(cursor)
    if previous is None or previous.calendar != identity or previous.epoch != epoch:
        listed = {k: s for k, s in current.items() if _overlaps(s, start, end)}
        return ChangeSet(_sorted(listed.values()), _cursor(identity, epoch, listed), full=True)
    changed: dict[str, EventState] = {}
    for key, state in current.items():
        known = previous.digests.get(key)
        if known is None:
            if _overlaps(state, start, end):
                changed[key] = state
        elif known != ics_events.state_digest(state):
            changed[key] = state
    removed = tuple(sorted(k for k in previous.digests if k not in current))
    tracked = {
        k: s for k, s in current.items() if _overlaps(s, start, end) or k in previous.digests
    }
    return ChangeSet(
        events=_sorted(changed.values()),
        cursor=_cursor(identity, epoch, tracked),
        full=False,
        removed=removed,
    )


def _parse_with_zones(block: str, zones: str) -> icalendar.Event:
    if "TZID" not in block.upper():
        return ics_events.parse_block(block)
    wrapped = empty_calendar().replace("END:VCALENDAR", zones + block + "END:VCALENDAR")
    (calendar,) = parse_calendars(wrapped.encode("utf-8", errors="surrogateescape"))
    (vevent,) = calendar.walk("VEVENT")
    assert isinstance(vevent, icalendar.Event)
    return vevent


def _overlaps(state: EventState, start: datetime, end: datetime) -> bool:
    return state.start < end and state.end > start


def _sorted(states: Iterable[EventState]) -> tuple[EventState, ...]:
    return tuple(sorted(states, key=lambda s: (s.start, s.key)))


def _cursor(identity: str, epoch: str, states: Mapping[str, EventState]) -> str:
    digests = {k: ics_events.state_digest(s) for k, s in states.items()}
    return ics_cursor.encode(ics_cursor.IcsCursor(identity, epoch, digests))
