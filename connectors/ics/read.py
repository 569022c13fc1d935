"""One person's busy time from scanned calendar files: all of it, or a defect.

The steps, each bounded:
1. the calendar's size and event count against the limits (`ics.limits`);
2. only the events that can touch the window are read: those whose coarse span
   (`ics.scan`: DTSTART to DTEND, or to UNTIL for a series) meets it, and every
   event whose span the text does not tell (overrides, RDATEs, COUNT). Plain single
   events are read from their text (`ics.simple`, the same values icalendar gives);
   the rest is parsed by icalendar, without the VTIMEZONEs of IANA zones (icalendar
   takes those from the zone database);
3. each parsed event is checked: a property icalendar could not read (DTSTART,
   DTEND, DURATION, RRULE, RDATE, EXDATE, RECURRENCE-ID), a missing DTSTART, an end
   before the start, an RRULE dateutil rejects: each a `CalendarDefect` naming the
   file, line and UID. Skipping such an event would make its time look free.
   A TZID that is neither known nor defined in the file is read in the owner's zone
   and reported as a warning (see `BusyRead.warnings`);
4. series are moved close to the window and counted (`ics.rules`) against the
   occurrence limit, then expanded by `recurring_ical_events`, all under one step
   budget (`ics.budget`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import icalendar

from connectors.base import Busy
from connectors.ics.budget import (
    PER_OCCURRENCE,
    PER_SERIES,
    STEPS,
    BudgetExceeded,
    StepBudget,
)
from connectors.ics.busy import busy_intervals, kind_of, mailto, merge, to_aware
from connectors.ics.defects import CalendarDefect, at
from connectors.ics.limits import Limits
from connectors.ics.rules import MAX_WALK, occurrences_in, rules_of, skip_ahead, walk_length
from connectors.ics.scan import CalendarText, EventBlock, ScannedFile
from connectors.ics.simple import SimpleEvent, custom_zones, simple_event, span_of

log = logging.getLogger(__name__)

#: Properties whose value decides when an event is; one that does not read makes the
#: event's time unknown.
TIME_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
#: Dates a calendar event can sensibly have; far outside, date arithmetic (windows,
#: margins, zone offsets) overflows Python's year 1..9999 range.
_YEARS = (1000, 8999)
_LONGEST = timedelta(days=1000 * 365)
_ONCE = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")  # RFC 5545: at most once
_ZONED = ("DTSTART", "DTEND", "RECURRENCE-ID", "RDATE", "EXDATE")
#: Floating times and all-day spans can sit up to 14 h off UTC, and an event may
#: start before the window and last into it: days kept around the window when
#: deciding from the text alone which single events to parse.
_DAYS_AROUND = timedelta(days=3)


@dataclass(frozen=True)
class BusyRead:
    intervals: tuple[Busy, ...]
    warnings: tuple[str, ...] = ()


def read_busy(
    label: str,
    files: Sequence[ScannedFile],
    owner_email: str,
    zone: tzinfo,
    start: datetime,
    end: datetime,
    limits: Limits,
    limit_hint: str = "options of the local connector",
    *,
    simple: bool = True,
) -> BusyRead:
    """Busy time in [start, end) of the calendar `label` made of `files`; raises
    `CalendarDefect` when any part of it cannot be read. `simple=False` parses every
    event with icalendar (what `ics.simple` must agree with; for tests)."""
    events = sum(f.event_count for f in files)
    if events > limits.max_events:
        raise CalendarDefect(
            f"{label} holds {events} events, above the limit of {limits.max_events} "
            f"(max_events, {limit_hint})"
        )
    window = _Window(start, end, limits.max_occurrences)
    first_day, last_day = start.date() - _DAYS_AROUND, end.date() + _DAYS_AROUND
    near = [_near(calendar.events, first_day, last_day) for f in files for calendar in f.calendars]
    if sum(map(len, near)) > 2 * limits.max_occurrences:
        # Every one of them would be parsed (~0.3 ms each) before being counted: a file
        # of 100k events in one month would cost half a minute just to be refused.
        raise CalendarDefect(
            f"{label} has {sum(map(len, near))} events within {_DAYS_AROUND.days} days of "
            f"{start:%Y-%m-%d} to {end:%Y-%m-%d}, more than twice the limit of "
            f"{limits.max_occurrences} occurrences (max_occurrences, {limit_hint})"
        )
    parsed: list[icalendar.Calendar] = []
    singles: list[Busy] = []  # busy time of the events read without icalendar
    owner = owner_email.strip().lower()
    warnings: dict[tuple[str, str], str] = {}
    nearby = iter(near)
    for file in files:
        for calendar in file.calendars:
            blocks = next(nearby)
            if not blocks:
                continue
            readings = _simple_readings(blocks) if simple else [None] * len(blocks)
            hard = [b for b, r in zip(blocks, readings, strict=True) if r is None]
            vevents: list[icalendar.Component] = []
            if hard:
                try:
                    # Custom VTIMEZONEs are expanded while parsing, so their rules run
                    # under the budget.
                    with window.budget.guard():
                        parsed_calendar = _parse(file.source, calendar, hard, all_zones=not simple)
                except BudgetExceeded:
                    raise CalendarDefect(
                        f"{at(file.source, calendar.line)}: its time zone definitions need "
                        f"more than {window.budget.steps} steps to read"
                    ) from None
                vevents = [c for c in parsed_calendar.subcomponents if c.name == "VEVENT"]
                parsed.append(parsed_calendar)
            located: list[EventBlock | None] = list(hard)
            if len(vevents) != len(hard):
                located = [None] * len(vevents)  # cannot happen after the scan; be safe
            in_order = iter(zip(vevents, located, strict=True))
            for reading in readings:
                if reading is not None:
                    singles.extend(_count_single(reading, owner, zone, window))
                else:
                    for component, block in itertools.islice(in_order, 1):
                        _count_parsed(component, block, file.source, zone, window, warnings)
                _check_limit(window, label, limit_hint)
            for component, block in in_order:  # only when the parse disagreed with the scan
                _count_parsed(component, block, file.source, zone, window, warnings)
                _check_limit(window, label, limit_hint)
    expanded: tuple[Busy, ...] = ()
    if parsed:
        # Expanding walks the same rules again: the same allowance once more.
        budget = StepBudget(STEPS + PER_OCCURRENCE * window.counted + PER_SERIES * window.series)
        try:
            with budget.guard():
                expanded = busy_intervals(parsed, owner_email, zone, start, end)
        except BudgetExceeded:
            raise CalendarDefect(
                f"{label}: expanding its recurring events needs more than {budget.steps} steps"
            ) from None
        except Exception as exc:  # the library's own checks; anything left is this file's
            log.debug("expanding %s failed", label, exc_info=True)
            raise CalendarDefect(f"{label}: cannot expand its events: {_short(exc)}") from None
    intervals = merge([*singles, *expanded]) if singles else expanded
    for message in warnings.values():
        log.warning("%s", message)
    return BusyRead(intervals, tuple(warnings.values()))


def _count_single(event: SimpleEvent, owner: str, zone: tzinfo, window: _Window) -> list[Busy]:
    """A single event read without icalendar: counted if it meets the window, and
    its busy time in the window (as `busy_intervals` would give it)."""
    begins, ends = span_of(event, zone)
    if not (begins < window.end and ends >= window.start):
        return []
    window.counted += 1
    kind = kind_of(event.status, _partstat(event, owner), event.busy_status, event.transp)
    lo, hi = max(begins, window.start), min(ends, window.end)
    return [Busy(lo, hi, kind)] if kind is not None and lo < hi else []


def _count_parsed(
    component: icalendar.Component,
    block: EventBlock | None,
    source: str,
    zone: tzinfo,
    window: _Window,
    warnings: dict[tuple[str, str], str],
) -> None:
    """An event icalendar read: checked, its series moved close to the window and
    its occurrences counted; an unknown TZID noted in `warnings`."""
    line, uid = (block.line, block.uid) if block else (None, _uid(component))
    where = at(source, line, uid)
    try:
        _check(component, where, zone)
        found, rule = _occurrences(component, where, zone, window)
    except OverflowError:
        raise CalendarDefect(
            f"{where}: its dates are too far in the past or future to compute with"
        ) from None
    for tzid in _unknown_tzids(component):
        warnings.setdefault(
            (source, tzid),
            f"{where}: TZID {tzid!r} is neither a known time zone nor defined "
            f"by a VTIMEZONE in the file; read in the owner's zone {zone}",
        )
    window.counted += found
    if rule:
        window.rules.append((found, where, rule))


def _check_limit(window: _Window, label: str, limit_hint: str) -> None:
    """Stop counting as soon as the calendar is over its occurrence limit."""
    if window.counted <= window.max_occurrences:
        return
    most = max(window.rules, default=None)
    culprit = f"; the most from {most[1]} ({most[2]})" if most else ""
    raise CalendarDefect(
        f"{label} has more than {window.max_occurrences} occurrences between "
        f"{window.start:%Y-%m-%d} and {window.end:%Y-%m-%d} (max_occurrences, {limit_hint})"
        f"{culprit}"
    )


class _Window:
    """The window in naive wall-clock time (how dateutil walks), widened by the two
    days a zone's offset and an all-day span can shift it, and the step budget of
    the occurrences counted in it."""

    def __init__(self, start: datetime, end: datetime, max_occurrences: int) -> None:
        self.start, self.end = start, end
        self.lo = start.astimezone(UTC).replace(tzinfo=None) - timedelta(days=2)
        self.hi = end.astimezone(UTC).replace(tzinfo=None) + timedelta(days=2)
        self.max_occurrences = max_occurrences
        self.budget = StepBudget(STEPS)
        self.series = 0  # series counted so far
        self.counted = 0  # occurrences counted so far
        self.rules: list[tuple[int, str, str]] = []  # (occurrences, where, rule) per series


def _occurrences(
    component: icalendar.Component, where: str, zone: tzinfo, window: _Window
) -> tuple[int, str]:
    """A checked event's occurrences in the window (counted up to the limit) after
    moving its series close to the window, and its rules' text ("" for no rule)."""
    if not rules_of(component) and component.get("RDATE") is None:
        begins = to_aware(_prop(component, "DTSTART").dt, zone)
        inside = begins < window.end and begins + _duration(component, zone) >= window.start
        return (1 if inside else 0), ""
    duration = _duration(component, zone)
    skip_ahead(component, window.lo - duration)
    walk, walked = walk_length(component, window.hi)
    if walk > MAX_WALK:
        raise CalendarDefect(
            f"{where}: RRULE {_short(walked)!r} has to be walked through {walk} periods to "
            f"reach {window.end:%Y-%m-%d} (limit {MAX_WALK}): too frequent for a calendar, "
            "or a COUNT with BY... parts that cannot be skipped ahead; end the series with "
            "UNTIL or make it less frequent"
        )
    budget = window.budget
    budget.grant(PER_SERIES)
    window.series += 1
    try:
        with budget.guard():
            return occurrences_in(
                component,
                window.lo - duration,
                window.hi,
                window.max_occurrences - window.counted,  # what is left of the limit
                lambda: budget.grant(PER_OCCURRENCE),
            )
    except BudgetExceeded:
        raise CalendarDefect(
            f"{where}: RRULE {_rules(component)} needs more than {budget.steps} steps to reach "
            f"{window.start:%Y-%m-%d}: it matches (almost) no date, or a COUNT with BY... "
            "parts cannot be skipped ahead; end the series with UNTIL instead"
        ) from None
    except ValueError as exc:
        raise CalendarDefect(f"{where}: RRULE {_rules(component)} is not valid: {exc}") from None


def _simple_readings(blocks: Sequence[EventBlock]) -> list[SimpleEvent | None]:
    """Each block read without icalendar where it can be (`ics.simple`). A UID seen
    twice among them (a series and its overrides, or a duplicate) is left to
    recurring_ical_events, which reads such events together."""
    readings = [simple_event(b.text) for b in blocks]
    uids = [r.uid if r is not None else b.uid for b, r in zip(blocks, readings, strict=True)]
    seen: dict[str | None, int] = {}
    for uid in uids:
        seen[uid] = seen.get(uid, 0) + 1
    return [
        r if r is not None and r.uid is not None and seen[uid] == 1 else None
        for r, uid in zip(readings, uids, strict=True)
    ]


def _partstat(event: SimpleEvent, owner: str) -> str | None:
    """The owner's PARTSTAT, as `busy.owner_partstat` reads it."""
    for address, partstat in event.attendees:
        if mailto(address) == owner:
            return partstat.upper()
    return None


def _near(events: Sequence[EventBlock], first: date, last: date) -> list[EventBlock]:
    return [
        e
        for e in events
        if e.first is None or e.last is None or (e.first <= last and e.last >= first)
    ]


def _parse(
    source: str, calendar: CalendarText, blocks: Sequence[EventBlock], *, all_zones: bool = False
) -> icalendar.Calendar:
    zones = calendar.zones if all_zones else custom_zones(calendar.zones)
    parts = ["BEGIN:VCALENDAR\r\n", calendar.header, zones]
    for block in blocks:
        parts.append(block.text if block.text.endswith("\n") else block.text + "\r\n")
    parts.append("END:VCALENDAR\r\n")
    try:
        return icalendar.Calendar.from_ical("".join(parts))
    except Exception as exc:  # icalendar raises ValueError and worse on broken input
        raise CalendarDefect(
            f"{at(source, calendar.line)}: the calendar does not read as iCalendar: {_short(exc)}"
        ) from None


def _check(component: icalendar.Component, where: str, zone: tzinfo) -> None:
    for name, error in getattr(component, "errors", ()):
        if str(name).upper() in TIME_PROPERTIES:
            raise CalendarDefect(f"{where}: {str(name).upper()} does not read: {_short(error)}")
    for name in _ONCE:
        value = component.get(name)
        if isinstance(value, list):
            raise CalendarDefect(f"{where}: {name} appears {len(value)} times; an event has one")
    if component.get("DTEND") is not None and component.get("DURATION") is not None:
        raise CalendarDefect(f"{where}: the event has both DTEND and DURATION; it has one or none")
    start = component.get("DTSTART")
    if start is None:
        raise CalendarDefect(f"{where}: the event has no DTSTART, so its time is unknown")
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        value = getattr(component.get(name), "dt", None)
        if isinstance(value, date) and not _YEARS[0] <= value.year <= _YEARS[1]:
            raise CalendarDefect(
                f"{where}: {name} is in the year {value.year}; dates from {_YEARS[0]} to "
                f"{_YEARS[1]} are read"
            )
    end = component.get("DTEND")
    if end is not None and to_aware(end.dt, zone) < to_aware(start.dt, zone):
        raise CalendarDefect(f"{where}: DTEND is before DTSTART")
    duration = component.get("DURATION")
    if duration is not None and duration.dt < timedelta(0):
        raise CalendarDefect(f"{where}: DURATION is negative")
    if _duration(component, zone) > _LONGEST:
        raise CalendarDefect(f"{where}: the event lasts more than {_LONGEST.days // 365} years")


def _duration(component: icalendar.Component, zone: tzinfo) -> timedelta:
    """How long one occurrence lasts (to let one that starts before the window in)."""
    start: date | datetime = _prop(component, "DTSTART").dt
    end = _prop(component, "DTEND")
    if end is not None:
        return max(timedelta(0), to_aware(end.dt, zone) - to_aware(start, zone))
    duration = _prop(component, "DURATION")
    if duration is not None:
        return max(timedelta(0), duration.dt)
    return timedelta(days=1) if not isinstance(start, datetime) else timedelta(0)


def _prop(component: icalendar.Component, name: str) -> Any:
    """A property (icalendar's union type does not say which kind; _check did)."""
    return component.get(name)


def _unknown_tzids(component: icalendar.Component) -> list[str]:
    """TZIDs icalendar could not resolve: it leaves such times naive (floating)."""
    found = []
    for name in _ZONED:
        for prop in _as_list(component.get(name)):
            tzid = getattr(prop, "params", {}).get("TZID")
            values = [getattr(prop, "dt", None)] + [d.dt for d in getattr(prop, "dts", ())]
            naive = any(isinstance(v, datetime) and v.tzinfo is None for v in values)
            if tzid and naive and tzid not in found:
                found.append(str(tzid))
    return found


def _rules(component: icalendar.Component) -> str:
    rules = [r.to_ical().decode("utf-8", errors="replace") for r in rules_of(component)]
    return repr(_short("; ".join(rules)) if rules else "")


def _uid(component: icalendar.Component) -> str | None:
    uid = component.get("UID")
    return str(uid) if uid is not None else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _short(value: object, limit: int = 160) -> str:
    """An error text kept to one short line (messages must not echo whole files)."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["BusyRead", "read_busy"]
