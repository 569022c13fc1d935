"""Single events read straight from their text, without icalendar.

Parsing a VEVENT with icalendar costs ~0.3-0.5 ms, and most of a month's events are
plain single meetings: DTSTART, DTEND or DURATION, perhaps STATUS, TRANSP, Outlook's
busy status and attendees. `simple_event` reads exactly those from the text and gives
the same values icalendar would, or None whenever the block is anything else (a
series, an override, a value or line it does not read strictly, a repeated property,
a TZID that is not an IANA zone, an end before the start, a year out of range...):
such a block goes to icalendar as before, so every defect is still found and named
there. `tests/connectors/ics/test_simple.py` checks both readings agree, on the
fixtures and on mutated events.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from connectors.ics.files import unfold

#: One content line: name, parameters (quoted values may hold ; : ,), value.
_LINE = re.compile(
    r'([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=(?:"[^"\x00-\x1f]*"|[^";:,\x00-\x1f]*)'
    r'(?:,(?:"[^"\x00-\x1f]*"|[^";:,\x00-\x1f]*))*)*):([^\x00-\x08\x0a-\x1f\x7f]*)'
)
_PARAM = re.compile(r';([A-Za-z0-9-]+)=((?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)')
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)")
_DURATION = re.compile(
    r"\+?P(?:(\d{1,6})W)?(?:(\d{1,6})D)?(?:T(?:(\d{1,7})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?"
)
#: Any of these makes the event more than one occurrence (or part of a series).
_SERIES = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID"})
#: Read once each; a second one goes to icalendar (which reports or lists it).
_ONCE = frozenset(
    {
        "DTSTART",
        "DTEND",
        "DURATION",
        "STATUS",
        "TRANSP",
        "X-MICROSOFT-CDO-BUSYSTATUS",
        "UID",
        "SEQUENCE",
    }
)
_INTEGER = re.compile(r"[+-]?\d{1,9}")
#: Properties of a VALARM that read whatever their text (TRIGGER is checked apart).
_ALARM_TEXT = frozenset({"ACTION", "DESCRIPTION", "SUMMARY", "UID", "X-WR-ALARMUID"})
_TRIGGER = re.compile(
    r"[+-]?P(?:\d{1,6}W|(?:\d{1,6}D)?(?:T(?:\d{1,7}H)?(?:\d{1,9}M)?(?:\d{1,9}S)?)?)"
)
#: The years `ics.read` accepts (outside them, icalendar's path names the defect).
_YEARS = (1000, 8999)
_LONGEST = timedelta(days=1000 * 365)


@dataclass(frozen=True)
class SimpleEvent:
    """What busy time needs of a single event, as icalendar would read it: times
    naive when floating, dates as dates; texts as written."""

    start: date | datetime
    end: date | datetime | None  # DTEND, or DTSTART + DURATION; None if neither
    status: str
    transp: str
    busy_status: str | None  # X-MICROSOFT-CDO-BUSYSTATUS
    attendees: tuple[tuple[str, str], ...]  # (address as written, PARTSTAT)
    uid: str | None


def simple_event(block: str) -> SimpleEvent | None:
    """The block as a `SimpleEvent`, or None when icalendar must read it."""
    lines = unfold(block).splitlines()
    if len(lines) < 2 or lines[0].upper() != "BEGIN:VEVENT" or lines[-1].upper() != "END:VEVENT":
        return None
    values: dict[str, tuple[str, dict[str, str]]] = {}
    attendees: list[tuple[str, str]] = []
    depth = 0
    for line in lines[1:-1]:
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        name, raw_params, value = match.group(1).upper(), match.group(2), match.group(3)
        if name in ("BEGIN", "END"):
            if value.upper() != "VALARM":
                return None
            depth += 1 if name == "BEGIN" else -1
            if depth not in (0, 1):
                return None
            continue
        params = _params(raw_params)
        if params is None:
            return None
        if depth:
            # An alarm says nothing about busy time, but icalendar refuses the whole
            # calendar for a value in it that does not read: only plain ones pass.
            if not _plain_alarm_line(name, params, value):
                return None
            continue
        if name in _SERIES:
            return None
        if name == "ATTENDEE":
            partstat = params.get("PARTSTAT", "NEEDS-ACTION")
            attendees.append((value, partstat))
        elif name in _ONCE:
            if name in values:
                return None
            values[name] = (value, params)
    if depth:
        return None
    for name in ("STATUS", "TRANSP", "X-MICROSOFT-CDO-BUSYSTATUS", "UID"):
        text = values.get(name, ("", {}))[0]
        if "\\" in text or text != text.strip():
            return None  # escapes or padding: icalendar's reading decides
    if "SEQUENCE" in values and not _INTEGER.fullmatch(values["SEQUENCE"][0]):
        return None  # recurring_ical_events compares it: a broken one fails there
    if "DTSTART" not in values or ("DTEND" in values and "DURATION" in values):
        return None
    start = _time(*values["DTSTART"])
    if start is None:
        return None
    end: date | datetime | None = None
    if "DTEND" in values:
        end = _time(*values["DTEND"])
        if end is None or isinstance(end, datetime) is not isinstance(start, datetime):
            return None
        mixed = (
            isinstance(end, datetime)
            and isinstance(start, datetime)
            and ((end.tzinfo is None) is not (start.tzinfo is None))
        )
        if mixed:
            return None  # floating and zoned mixed: icalendar's reading decides
    elif "DURATION" in values:
        value, params = values["DURATION"]
        length = _duration(value) if not params else None
        if length is None or not isinstance(start, datetime):
            return None
        end = start + length
    if end is not None and not (_in_range(end) and _ordered(start, end)):
        return None
    return SimpleEvent(
        start=start,
        end=end,
        status=values.get("STATUS", ("", {}))[0],
        transp=values.get("TRANSP", ("OPAQUE", {}))[0],
        busy_status=values["X-MICROSOFT-CDO-BUSYSTATUS"][0]
        if "X-MICROSOFT-CDO-BUSYSTATUS" in values
        else None,
        attendees=tuple(attendees),
        uid=values["UID"][0] if "UID" in values else None,
    )


def _plain_alarm_line(name: str, params: dict[str, str], value: str) -> bool:
    if name == "TRIGGER":
        return (
            set(params) <= {"RELATED"}
            and _TRIGGER.fullmatch(value) is not None
            and (value.lstrip("+-") not in ("P", "PT"))
        )
    return (name in _ALARM_TEXT or name.startswith("X-")) and not params


def span_of(event: SimpleEvent, zone: tzinfo) -> tuple[datetime, datetime]:
    """The event's time as aware datetimes (floating times and dates in `zone`),
    with RFC 5545's defaults for a missing end (as `busy.occurrence_span`)."""
    start = _aware(event.start, zone)
    if event.end is not None:
        return start, _aware(event.end, zone)
    if isinstance(event.start, datetime):
        return start, start
    return start, _aware(event.start + timedelta(days=1), zone)


#: Parameters whose value is read; any other is only noted (CN, ROLE, X-...).
_READ = frozenset({"VALUE", "TZID", "PARTSTAT"})
_ONE_VALUE = re.compile(r'"[^"]*"|[^",]*')


def _params(raw: str) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for match in _PARAM.finditer(raw):
        key, value = match.group(1).upper(), match.group(2)
        if key not in _READ:
            params.setdefault(key, "")
            continue
        if key in params or not _ONE_VALUE.fullmatch(value):
            return None  # repeated, or several values: icalendar's reading decides
        params[key] = value[1:-1] if value.startswith('"') else value
    return params


def _time(value: str, params: dict[str, str]) -> date | datetime | None:
    kind = params.get("VALUE", "").upper()
    if set(params) - {"VALUE", "TZID"}:
        return None
    if kind == "DATE":
        match = _DATE.fullmatch(value)
        if match is None or "TZID" in params:
            return None
        try:
            whole_day = date(*map(int, match.groups()))
        except ValueError:
            return None
        return whole_day if _in_range(whole_day) else None
    if kind not in ("", "DATE-TIME"):
        return None
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return None
    zone: tzinfo | None = None
    if match.group(7):
        if "TZID" in params:
            return None
        zone = UTC
    elif "TZID" in params:
        zone = _zone(params["TZID"])
        if zone is None:
            return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None
    return moment if _in_range(moment) else None


@functools.cache
def _iana() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.lru_cache(maxsize=256)
def _zone(tzid: str) -> tzinfo | None:
    """An IANA zone by its exact name (what icalendar uses for such a TZID, whatever
    VTIMEZONE the file carries); None for anything else."""
    if tzid not in _iana():
        return None
    return zoneinfo.ZoneInfo(tzid)


_VTIMEZONE = re.compile(r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE\r?\n?", re.MULTILINE | re.S | re.I)
_TZID = re.compile(r"^TZID(?:;[^:\r\n]*)?:(.*?)\r?$", re.MULTILINE | re.I)


@functools.lru_cache(maxsize=64)
def custom_zones(zones: str) -> str:
    """`zones` (VTIMEZONE blocks) without those icalendar does not use: for an IANA
    zone's TZID it takes the zone database (as `_zone`), yet parsing its definition
    costs milliseconds (exporters list decades of transitions). Anything else is
    kept as it is."""

    def drop_iana(block: re.Match[str]) -> str:
        tzid = _TZID.search(block.group(0))
        return "" if tzid is not None and _zone(tzid.group(1)) is not None else block.group(0)

    return _VTIMEZONE.sub(drop_iana, zones)


def _duration(value: str) -> timedelta | None:
    match = _DURATION.fullmatch(value)
    if match is None or not any(match.groups()):
        return None
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    if weeks and (days or hours or minutes or seconds):
        return None  # RFC 5545 keeps weeks apart; icalendar's reading decides
    try:
        length = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        return None
    return length if length <= _LONGEST else None


def _in_range(value: date) -> bool:
    return _YEARS[0] <= value.year <= _YEARS[1]


def _aware(value: date | datetime, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def _ordered(start: date | datetime, end: date | datetime) -> bool:
    """End not before start, and not longer than `ics.read` accepts (both dates, or
    both times: `simple_event` lets no other pair through)."""
    if isinstance(start, datetime) is not isinstance(end, datetime):
        return False
    length: timedelta = end - start  # type: ignore[operator]  # both dates or both times
    return timedelta(0) <= length <= _LONGEST
