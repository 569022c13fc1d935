"""Busy time of one person from iCalendar data, as real calendars export it.

What decides "busy" (each case has a fixture in tests/connectors/ics/fixtures/):
- recurring series are expanded with `recurring_ical_events` (RRULE, RDATE, EXDATE,
  RECURRENCE-ID overrides, DST kept in the series' own zone); a series it cannot
  expand is an error, never skipped (`ics.read` checks, bounds and calls this);
- STATUS:CANCELLED (series or single occurrence) is free;
- Outlook's X-MICROSOFT-CDO-BUSYSTATUS wins when present (FREE and WORKINGELSEWHERE
  free, TENTATIVE tentative, OOF out of office, BUSY busy), because Outlook writes
  TRANSP:OPAQUE for all of OOF, TENTATIVE and BUSY;
- otherwise TRANSP:TRANSPARENT is free and STATUS:TENTATIVE is tentative;
- the owner's own PARTSTAT on the event: DECLINED is free, TENTATIVE is tentative;
- all-day (DATE) values and floating times are in the owner's zone; Windows zone
  names in TZID are mapped by icalendar (CLDR windowsZones table).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import icalendar
import recurring_ical_events

from connectors.base import Busy, BusyKind
from connectors.ics.zones import isolate_custom_zones

log = logging.getLogger(__name__)

#: Floating times and all-day spans can sit up to 14 h (UTC+14) away from UTC, so the
#: expansion window is widened before the exact clip in the owner's zone.
_MARGIN = timedelta(days=2)

_CDO_KIND: dict[str, BusyKind | None] = {
    "FREE": None,
    "WORKINGELSEWHERE": None,
    "TENTATIVE": BusyKind.TENTATIVE,
    "OOF": BusyKind.OOF,
    "BUSY": BusyKind.BUSY,
}


def parse_calendars(data: bytes) -> list[icalendar.Calendar]:
    """All VCALENDARs in one file (some exporters concatenate several), with custom
    time zones kept apart from other files' (see `ics.zones`). For reading our own
    events back (`ics.changes`); busy time goes through `read_busy`."""
    text = isolate_custom_zones(data.decode("utf-8", errors="replace"))
    return list(icalendar.Calendar.from_ical(text, multiple=True))


def to_aware(value: date | datetime, zone: tzinfo) -> datetime:
    """An iCalendar DATE or DATE-TIME as an aware datetime; floating/DATE in `zone`."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=zone)
        return value
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def mailto(value: object) -> str:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def owner_partstat(component: icalendar.Component, owner_email: str) -> str | None:
    attendees = component.get("ATTENDEE")
    if attendees is None:
        return None
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        if mailto(attendee) == owner_email:
            params: Any = getattr(attendee, "params", {})
            return str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return None


def busy_kind(component: icalendar.Component, owner_email: str) -> BusyKind | None:
    """How one occurrence blocks its owner's time; None when it leaves them free."""
    cdo = component.get("X-MICROSOFT-CDO-BUSYSTATUS")
    return kind_of(
        str(component.get("STATUS", "")),
        owner_partstat(component, owner_email),
        str(cdo) if cdo is not None else None,
        str(component.get("TRANSP", "OPAQUE")),
    )


def kind_of(
    status: str, partstat: str | None, busy_status: str | None, transp: str
) -> BusyKind | None:
    """`busy_kind` from the property values (also used for events read without
    icalendar, `ics.simple`): the one place that decides what blocks time."""
    if status.upper() == "CANCELLED":
        return None
    if partstat == "DECLINED":
        return None
    if busy_status is not None and busy_status.upper() in _CDO_KIND:
        kind = _CDO_KIND[busy_status.upper()]
    elif transp.upper() == "TRANSPARENT":
        kind = None
    elif status.upper() == "TENTATIVE":
        kind = BusyKind.TENTATIVE
    else:
        kind = BusyKind.BUSY
    if kind is BusyKind.BUSY and partstat == "TENTATIVE":
        kind = BusyKind.TENTATIVE
    return kind


def occurrence_span(
    component: icalendar.Component, zone: tzinfo
) -> tuple[datetime, datetime] | None:
    start_prop = component.get("DTSTART")
    if start_prop is None:
        return None
    raw_start = start_prop.dt
    end_prop = component.get("DTEND")
    if end_prop is not None:
        raw_end = end_prop.dt
    elif component.get("DURATION") is not None:
        duration: Any = component["DURATION"]  # icalendar's union type has no .dt on all
        raw_end = raw_start + duration.dt
    elif isinstance(raw_start, datetime):
        raw_end = raw_start  # RFC 5545: a DATE-TIME without end takes no time
    else:
        raw_end = raw_start + timedelta(days=1)  # a DATE without end is that one day
    start, end = to_aware(raw_start, zone), to_aware(raw_end, zone)
    return start, end


def busy_intervals(
    calendars: Iterable[icalendar.Calendar],
    owner_email: str,
    zone: tzinfo,
    start: datetime,
    end: datetime,
) -> tuple[Busy, ...]:
    """Expanded, clipped to [start, end), merged per kind and sorted. A series that
    cannot be expanded raises (recurring_ical_events' InvalidCalendar, ValueError)."""
    owner = owner_email.strip().lower()
    found: list[Busy] = []
    for calendar in calendars:
        query = recurring_ical_events.of(calendar)
        for raw_start, raw_end, component in occurrences(query, start - _MARGIN, end + _MARGIN):
            kind = busy_kind(component, owner)
            if kind is None:
                continue
            lo = max(to_aware(raw_start, zone), start)
            hi = min(to_aware(raw_end, zone), end)
            if lo < hi:
                found.append(Busy(lo, hi, kind))
    return merge(found)


_Occurrence = tuple[date | datetime, date | datetime, icalendar.Component]


def occurrences(query: Any, start: datetime, end: datetime) -> list[_Occurrence]:
    """(start, end, the event it comes from) of each occurrence in [start, end].

    recurring_ical_events' public `between` returns a copy of the whole event per
    occurrence (~1 ms each: most of the cost of a dense series, 3k occurrences ~3 s).
    Its Occurrence objects already carry start, end and the event (series or
    override) they come from; should a later version rename those, the public API
    still gives the same answer, only slower."""
    try:
        found = query._occurrences_between(query.to_datetime(start), query.to_datetime(end))
        return [(o.start, o.end, o._adapter._component) for o in found]
    except AttributeError:
        log.warning("recurring_ical_events changed its internals; reading the slower way")
    return public_occurrences(query, start, end)


def public_occurrences(query: Any, start: datetime, end: datetime) -> list[_Occurrence]:
    """`occurrences` through recurring_ical_events' public API (a copy per occurrence)."""
    return [(c["DTSTART"].dt, _end_of(c), c) for c in query.between(start, end)]


def _end_of(component: icalendar.Component) -> date | datetime:
    end: Any = component.get("DTEND")
    if end is not None:
        return end.dt
    start_prop: Any = component["DTSTART"]
    start = start_prop.dt
    return start if isinstance(start, datetime) else start + timedelta(days=1)


def merge(intervals: Sequence[Busy]) -> tuple[Busy, ...]:
    """Merge overlapping or touching intervals of the same kind; sort by start, kind."""
    merged: list[Busy] = []
    for kind in BusyKind:
        same = sorted((b for b in intervals if b.kind is kind), key=lambda b: (b.start, b.end))
        current: Busy | None = None
        for item in same:
            if current is not None and item.start <= current.end:
                if item.end > current.end:
                    current = Busy(current.start, item.end, kind)
                continue
            if current is not None:
                merged.append(current)
            current = item
        if current is not None:
            merged.append(current)
    order = {kind: i for i, kind in enumerate(BusyKind)}
    return tuple(sorted(merged, key=lambda b: (b.start, order[b.kind], b.end)))
