"""Check a calendar file's structure and index its events, without parsing them.

Parsing every VEVENT with icalendar is most of the cost of reading a big calendar
(100k events: ~30 s), yet a month's busy time needs only the events near that
month and the recurring series. So a file is first *scanned*: one pass over its
BEGIN/END lines checks that every component is closed (a file cut off mid-event or
missing its last END:VCALENDAR is a defect, not a shorter calendar) and cuts the
text into top-level VEVENT blocks with their line numbers and a coarse date span
read from DTSTART/DTEND/DURATION. `busy` then parses only the blocks that can touch
the window. A scan is kept per file while the file is unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from connectors.ics.defects import CalendarDefect, at
from connectors.ics.files import FileStamp, file_stamp, property_value
from connectors.ics.zones import isolate_custom_zones

#: BEGIN/END lines (groups 1, 2) and the property lines the index reads (3, 4).
_LINES = re.compile(
    r"^(?:(BEGIN|END):([^\r\n]*?)[ \t]*"
    r"|(DTSTART|DTEND|DURATION|RRULE|RDATE|EXRULE|RECURRENCE-ID)(?:;[^:\r\n]*)?:([^\r\n]*?))"
    r"\r?$",
    re.MULTILINE | re.IGNORECASE,
)
_UNTIL_DAY = re.compile(r"UNTIL=(\d{8})", re.IGNORECASE)
_ZONE_RULE = re.compile(r"^RRULE[;:]([^\r\n]*)", re.MULTILINE | re.I)
_DATE_VALUE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T\d{6}Z?)?$")
_DURATION = re.compile(r"^\+?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@dataclass(frozen=True)
class EventBlock:
    """One top-level VEVENT, as text. `first`/`last` bound the days its occurrences
    can touch; None when that cannot be told from the text alone (overrides, RDATEs,
    values that do not read cleanly): such a block is always parsed, so a defect in
    it is reported."""

    line: int
    text: str
    first: date | None
    last: date | None

    @property
    def uid(self) -> str | None:
        value = property_value(self.text, "UID")
        return value.strip() if value else None


@dataclass(frozen=True)
class CalendarText:
    """One VCALENDAR: its own properties, its VTIMEZONEs and its events."""

    line: int
    header: str
    zones: str
    events: tuple[EventBlock, ...]


@dataclass(frozen=True)
class ScannedFile:
    source: str  # the file path or CalDAV href that messages name
    calendars: tuple[CalendarText, ...]

    @property
    def event_count(self) -> int:
        return sum(len(c.events) for c in self.calendars)


def scan(source: str, data: bytes) -> ScannedFile:
    """The structure of one file; raises `CalendarDefect` naming the line at fault."""
    if not data.strip():
        size = "0 bytes" if not data else "only blank lines"
        raise CalendarDefect(
            f"{source} is empty ({size}); a calendar without events still holds "
            "BEGIN:VCALENDAR and END:VCALENDAR"
        )
    text = isolate_custom_zones(data.decode("utf-8", errors="replace"))
    return _Scanner(source, text).run()


class _Scanner:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self.line = 1
        self.pos = 0

    def _line_at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.pos, offset)
        self.pos = offset
        return self.line

    def _fail(self, line: int | None, message: str) -> CalendarDefect:
        return CalendarDefect(f"{at(self.source, line)}: {message}")

    def _blank_or_fail(self, start: int, end: int) -> None:
        """Text between calendars must be empty: anything else is not iCalendar."""
        gap = self.text[start:end]
        if gap.strip():
            offset = start + len(gap) - len(gap.lstrip())
            line = self._line_at(offset)
            raise self._fail(
                line, "text outside BEGIN:VCALENDAR ... END:VCALENDAR (not an iCalendar file?)"
            )

    def run(self) -> ScannedFile:
        text = self.text
        stack: list[tuple[str, int, int]] = []  # (name, line, offset) of open components
        calendars: list[CalendarText] = []
        header: list[str] = []
        zones: list[str] = []
        events: list[EventBlock] = []
        props: dict[str, list[str]] = {}  # of the top-level VEVENT being read
        outside_from = 0  # where the text outside any calendar starts
        inside_from = 0  # where the current calendar's own (header) text starts
        for match in _LINES.finditer(text):
            if match.group(1) is None:  # a property line the index needs
                if len(stack) == 2 and stack[1][0] == "VEVENT":
                    props.setdefault(match.group(3).upper(), []).append(match.group(4))
                continue
            kind, name = match.group(1).upper(), match.group(2).strip().upper()
            if not stack and kind == "BEGIN":
                self._blank_or_fail(outside_from, match.start())
            line = self._line_at(match.start())
            if kind == "BEGIN":
                if not stack and name != "VCALENDAR":
                    raise self._fail(line, f"BEGIN:{name} outside a VCALENDAR")
                if len(stack) == 1:
                    header.append(text[inside_from : match.start()])
                stack.append((name, line, match.start()))
                if len(stack) == 2:
                    props = {}
                if len(stack) == 1:
                    inside_from = _after_eol(text, match.end())
                continue
            if not stack:
                raise self._fail(line, f"END:{name} without a BEGIN:{name} before it")
            open_name, open_line, open_at = stack[-1]
            if open_name != name:
                raise self._fail(
                    line, f"END:{name} does not close BEGIN:{open_name} of line {open_line}"
                )
            stack.pop()
            end = _after_eol(text, match.end())
            if len(stack) == 1:  # a top-level component of the calendar ends here
                block = text[open_at:end]
                if name == "VEVENT":
                    events.append(_event_block(open_line, block, props))
                elif name == "VTIMEZONE":
                    _check_zone_rules(self.source, open_line, block)
                    zones.append(block)
                inside_from = end
            elif not stack:  # the calendar ends here
                header.append(text[inside_from : match.start()])
                calendars.append(
                    CalendarText(open_line, "".join(header), "".join(zones), tuple(events))
                )
                header, zones, events = [], [], []
                outside_from = end
        if stack:
            name, line, _ = stack[-1]
            last = self._line_at(len(text)) - (1 if text.endswith("\n") else 0)
            raise self._fail(
                line,
                f"BEGIN:{name} is not closed: the file ends at line {last} without "
                f"END:{name} (cut off?)",
            )
        self._blank_or_fail(outside_from, len(text))
        if not calendars:
            raise self._fail(None, "no BEGIN:VCALENDAR (not an iCalendar file?)")
        return ScannedFile(self.source, tuple(calendars))


def _check_zone_rules(source: str, line: int, block: str) -> None:
    """Zone offsets change at most a few times a year, and icalendar expands a custom
    VTIMEZONE's rules from their DTSTART (often 1601) when it reads the file: a rule
    more frequent than yearly would stall it for hours."""
    for match in _ZONE_RULE.finditer(block):
        freq = re.search(r"FREQ=([A-Z]+)", match.group(1).upper())
        if freq is None or freq.group(1) != "YEARLY":
            raise CalendarDefect(
                f"{at(source, line)}: a VTIMEZONE rule must be FREQ=YEARLY, not "
                f"{match.group(1).strip()[:60]!r}"
            )


def _after_eol(text: str, offset: int) -> int:
    if text.startswith("\r\n", offset):
        return offset + 2
    if text.startswith("\n", offset):
        return offset + 1
    return offset


def _event_block(line: int, block: str, props: dict[str, list[str]]) -> EventBlock:
    """The block with the days it can touch, read from its first DTSTART, DTEND or
    DURATION and its RRULE's UNTIL (a second DTSTART is reported when parsed)."""
    first = _day(_first(props, "DTSTART"))
    if first is None or date.max - first < timedelta(days=400):
        return EventBlock(line, block, None, None)  # parsed, and refused if need be
    end, duration = _first(props, "DTEND"), _first(props, "DURATION")
    if end is not None:
        last = _day(end)
    elif duration is not None:
        days = _duration_days(duration)
        last = first + timedelta(days=days) if days is not None else None
    else:
        last = first + timedelta(days=1)
    if last is None or any(name in props for name in ("RECURRENCE-ID", "RDATE", "EXRULE")):
        return EventBlock(line, block, None, None)
    rules = props.get("RRULE", [])
    if not rules:
        return EventBlock(line, block, first, last)
    until = _UNTIL_DAY.search(rules[0]) if len(rules) == 1 else None
    ends = _day(until.group(1)) if until else None
    if ends is None or ends > date.max - (last - first) - timedelta(days=1):
        return EventBlock(line, block, first, date.max)  # open-ended or COUNT
    return EventBlock(line, block, first, ends + (last - first) + timedelta(days=1))


def _first(props: dict[str, list[str]], name: str) -> str | None:
    values = props.get(name)
    return values[0] if values else None


def _day(value: str | None) -> date | None:
    value = value.strip() if value else ""
    if len(value) < 8 or not value[:8].isdigit() or not _DATE_VALUE.match(value):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def _duration_days(value: str) -> int | None:
    """Whole days a DURATION can reach (rounded up); None if it does not read."""
    match = _DURATION.match(value.strip())
    if match is None:
        return None
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    try:
        total = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        return None
    return total.days + 1 if total.days < 100_000 else None


def too_big(size: int, max_file_mb: float, limit_hint: str) -> str:
    """`<size>, above the limit of <limit>` in units a person reads at a glance."""
    mb = 1024 * 1024
    if size >= mb:
        return f"{size / mb:.1f} MB, above the limit of {max_file_mb:g} MB ({limit_hint})"
    return (
        f"{size} bytes, above the limit of {max_file_mb:g} MB = {int(max_file_mb * mb)} bytes "
        f"({limit_hint})"
    )


class ScanCache:
    """Scans per file, reused while the file is unchanged: a running service reads the
    same files every cycle. Writes through `ics.files.atomic_write` replace the file
    (new inode, and counted in the stamp); an editor writing in place changes size or
    mtime."""

    def __init__(self, max_files: int = 512) -> None:
        self.max_files = max_files
        self._entries: dict[Path, tuple[FileStamp, ScannedFile]] = {}

    def scanned(self, file: Path, max_file_mb: float, limit_hint: str) -> ScannedFile:
        stamp = file_stamp(file)
        if stamp.size > max_file_mb * 1024 * 1024:
            raise CalendarDefect(f"{file} is {too_big(stamp.size, max_file_mb, limit_hint)}")
        cached = self._entries.get(file)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        result = scan(str(file), file.read_bytes())
        if len(self._entries) >= self.max_files:
            self._entries.pop(next(iter(self._entries)))  # oldest first
        self._entries[file] = (stamp, result)
        return result
