"""Issue 10, findings 1, 2 and 9: a calendar that cannot be read completely is an error
for its owner (naming the file and the line or the event's UID), never free time;
expansion is bounded by the window; an unknown TZID is read in the owner's zone with
a warning. Each case also reads a second, good calendar: everyone else goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Busy, BusyKind, CalendarRef, ConnectorContext, ConnectorUserError
from connectors.ics.connector import LocalConnector, open_connector
from connectors.ics.limits import Limits

MARCH = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))
GOOD = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
    "BEGIN:VEVENT\r\nUID:good@x\r\nDTSTAMP:20310101T000000Z\r\n"
    "DTSTART:20310304T090000Z\r\nDTEND:20310304T100000Z\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
TAIL = "END:VCALENDAR\r\n"


def event(*lines: str, uid: str = "e1@x") -> str:
    """A VEVENT starting on line 4 of a file made with HEAD."""
    body = "".join(f"{line}\r\n" for line in lines)
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20310101T000000Z\r\n{body}END:VEVENT\r\n"


def utc(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2031, month, day, hour, minute, tzinfo=UTC)


def read(tmp_path: Path, text: str | bytes, limits: Limits = Limits(), zone: str = "UTC"):
    folder = tmp_path / "cals"
    folder.mkdir(exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    (folder / "anna.ics").write_bytes(data)
    (folder / "bo.ics").write_text(GOOD)
    connector = LocalConnector(folder, tmp_path / "outbox", limits=limits)
    refs = [
        CalendarRef("anna", "anna@example.com", "anna.ics", zone),
        CalendarRef("bo", "bo@example.com", "bo.ics", "UTC"),
    ]
    answer = connector.busy(refs, *MARCH)
    assert answer.intervals["bo"] == (Busy(utc(4, 9), utc(4, 10)),)  # the others go on
    return answer, folder / "anna.ics"


PREFIX = "calendar of anna (anna@example.com): {file}"
CUT = HEAD + "BEGIN:VEVENT\r\nUID:cut@x\r\nDTSTAMP:20310101T000000Z\r\n" + (
    "DTSTART:20310303T090000Z\r\nDTEND:2031030"
)
ALARM_MISMATCH = HEAD + event("DTSTART:20310303T090000Z", "BEGIN:VALARM", "ACTION:DISPLAY")

#: (file content, what follows "calendar of anna (anna@example.com): <file>")
DEFECTS = {
    "cut-off-mid-event": (
        CUT,
        ", line 4: BEGIN:VEVENT is not closed: the file ends at line 8 without END:VEVENT "
        "(cut off?)",
    ),
    "missing-last-END:VCALENDAR": (
        HEAD + event("DTSTART:20310303T090000Z", "DTEND:20310303T100000Z"),
        ", line 1: BEGIN:VCALENDAR is not closed: the file ends at line 9 without "
        "END:VCALENDAR (cut off?)",
    ),
    "zero-bytes": (
        "",
        " is empty (0 bytes); a calendar without events still holds BEGIN:VCALENDAR and "
        "END:VCALENDAR",
    ),
    "not-a-calendar": (
        "this is not a calendar\n",
        ", line 1: text outside BEGIN:VCALENDAR ... END:VCALENDAR (not an iCalendar file?)",
    ),
    "text-after-the-calendar": (
        GOOD + "garbage\r\n",
        ", line 11: text outside BEGIN:VCALENDAR ... END:VCALENDAR (not an iCalendar file?)",
    ),
    "END-closes-the-wrong-component": (
        ALARM_MISMATCH + TAIL,
        ", line 10: END:VEVENT does not close BEGIN:VALARM of line 8",
    ),
    "invalid-RRULE-FORTNIGHTLY": (
        HEAD
        + event("DTSTART:20310303T090000Z", "DURATION:PT1H", "RRULE:FREQ=FORTNIGHTLY", uid="f@x")
        + TAIL,
        ", line 4, event f@x: RRULE does not read: Expected frequency, got: FORTNIGHTLY",
    ),
    "RRULE-dateutil-rejects": (
        HEAD
        + event("DTSTART:20310303T090000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;BYHOUR=25")
        + TAIL,
        ", line 4, event e1@x: RRULE 'FREQ=DAILY;BYHOUR=25' is not valid: hour must be in "
        "0..23",
    ),
    "malformed-DTEND": (
        HEAD + event("DTSTART:20310303T090000Z", "DTEND:2031031T10") + TAIL,
        ", line 4, event e1@x: DTEND does not read: Expected datetime, date, or time. "
        "Got: '2031031T10'",
    ),
    "malformed-DTSTART": (
        HEAD + event("DTSTART:20311303T090000Z", "DTEND:20310303T100000Z") + TAIL,
        ", line 4, event e1@x: DTSTART does not read: Wrong datetime format: 20311303T090000Z",
    ),
    "malformed-DURATION": (
        HEAD + event("DTSTART:20310303T090000Z", "DURATION:one hour") + TAIL,
        ", line 4, event e1@x: DURATION does not read: Wrong date format one hour",
    ),
    "no-DTSTART": (
        HEAD + event("DTEND:20310303T100000Z") + TAIL,
        ", line 4, event e1@x: the event has no DTSTART, so its time is unknown",
    ),
    "DTEND-before-DTSTART": (
        HEAD + event("DTSTART:20310303T100000Z", "DTEND:20310303T090000Z") + TAIL,
        ", line 4, event e1@x: DTEND is before DTSTART",
    ),
    "hostile-SECONDLY-since-2020": (
        HEAD
        + event("DTSTART:20200101T000000Z", "DTEND:20200101T000001Z", "RRULE:FREQ=SECONDLY")
        + TAIL,
        ", line 4, event e1@x: RRULE 'FREQ=SECONDLY' has to be walked through 3024001 "
        "periods to reach 2031-04-01 (limit 500000): too frequent for a calendar, or a "
        "COUNT with BY... parts that cannot be skipped ahead; end the series with UNTIL or "
        "make it less frequent",
    ),
    "COUNT-with-BY-parts-since-2020": (
        HEAD
        + event(
            "DTSTART:20200101T090000Z",
            "DURATION:PT30M",
            "RRULE:FREQ=MINUTELY;BYHOUR=9;BYMINUTE=0;COUNT=100000",
        )
        + TAIL,
        ", line 4, event e1@x: RRULE 'FREQ=MINUTELY;COUNT=100000;BYMINUTE=0;BYHOUR=9' has "
        "to be walked through 5917860 periods to reach 2031-04-01 (limit 500000): too "
        "frequent for a calendar, or a COUNT with BY... parts that cannot be skipped ahead; "
        "end the series with UNTIL or make it less frequent",
    ),
    "rule-that-matches-no-date": (
        HEAD
        + event(
            "DTSTART:20310303T090000Z",
            "DURATION:PT30M",
            "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        )
        + TAIL,
        ", line 4, event e1@x: RRULE 'FREQ=DAILY;BYMONTHDAY=30;BYMONTH=2' needs more than "
        "50000 steps to reach 2031-03-01: it matches (almost) no date, or a COUNT with "
        "BY... parts cannot be skipped ahead; end the series with UNTIL instead",
    ),
}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_a_calendar_that_cannot_be_read_completely_is_an_error(name: str, tmp_path: Path) -> None:
    text, expected = DEFECTS[name]
    answer, file = read(tmp_path, text)
    assert "anna" not in answer.intervals  # unknown, never free
    assert answer.errors == {"anna": PREFIX.format(file=file) + expected}
