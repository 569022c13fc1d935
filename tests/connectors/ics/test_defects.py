"""Issue 10, findings 1, 2 and 9: a calendar that cannot be read completely is an error
for its owner (naming the file and the line or the event's UID), never free time;
expansion is bounded by the window; an unknown TZID is read in the owner's zone with
a warning. Each case also reads a second, good calendar: everyone else goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import (
    Busy,
    CalendarRef,
    ConnectorContext,
    ConnectorUserError,
    FreeBusy,
)
from connectors.ics.connector import LocalConnector, open_connector
from connectors.ics.limits import DEFAULT_LIMITS, Limits

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


def read(
    tmp_path: Path, text: str | bytes, limits: Limits = DEFAULT_LIMITS, zone: str = "UTC"
) -> tuple[FreeBusy, Path]:
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
CUT = (
    HEAD
    + "BEGIN:VEVENT\r\nUID:cut@x\r\nDTSTAMP:20310101T000000Z\r\n"
    + ("DTSTART:20310303T090000Z\r\nDTEND:2031030")
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
        ", line 4, event e1@x: RRULE 'FREQ=DAILY;BYHOUR=25' is not valid: hour must be in 0..23",
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
        "20100 steps to reach 2031-03-01: it matches (almost) no date, or a COUNT with "
        "BY... parts cannot be skipped ahead; end the series with UNTIL instead",
    ),
}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_a_calendar_that_cannot_be_read_completely_is_an_error(name: str, tmp_path: Path) -> None:
    text, expected = DEFECTS[name]
    answer, file = read(tmp_path, text)
    assert "anna" not in answer.intervals  # unknown, never free
    assert answer.errors == {"anna": PREFIX.format(file=file) + expected}


def test_minutely_series_is_above_the_occurrence_limit(tmp_path: Path) -> None:
    text = HEAD + event("DTSTART:20200101T000000Z", "DURATION:PT1M", "RRULE:FREQ=MINUTELY")
    answer, file = read(tmp_path, text + TAIL)
    assert answer.errors == {
        "anna": f"calendar of anna (anna@example.com): {file.parent / 'anna.ics'} has more "
        "than 10000 occurrences between 2031-03-01 and 2031-04-01 (max_occurrences, options "
        f"of the local connector); the most from {file}, line 4, event e1@x (FREQ=MINUTELY)"
    }


LIMITS = {
    "max_file_mb": (
        Limits(max_file_mb=0.0002),
        " is {size} bytes, above the limit of 0.0002 MB = 209 bytes (max_file_mb, options of "
        "the local connector)",
    ),
    "max_events": (
        Limits(max_events=2),
        " holds 3 events, above the limit of 2 (max_events, options of the local connector)",
    ),
    "max_occurrences": (
        Limits(max_occurrences=30),
        " has more than 30 occurrences between 2031-03-01 and 2031-04-01 (max_occurrences, "
        "options of the local connector); the most from {file}, line 10, event d@x "
        "(FREQ=DAILY)",
    ),
}


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_a_calendar_above_a_limit_is_an_error(name: str, tmp_path: Path) -> None:
    limits, expected = LIMITS[name]
    text = (
        HEAD
        + event("DTSTART:20310303T090000Z", "DTEND:20310303T100000Z", uid="a@x")
        + event("DTSTART:20300303T090000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY", uid="d@x")
        + event("DTSTART:20100303T090000Z", "DTEND:20100303T100000Z", uid="old@x")
        + TAIL
    )
    answer, file = read(tmp_path, text, limits)
    assert answer.errors == {
        "anna": f"calendar of anna (anna@example.com): {file}"
        + expected.format(file=file, size=file.stat().st_size)
    }
    # Within the limits the same calendar reads: 31 daily occurrences + one event.
    assert len(read(tmp_path, text)[0].intervals["anna"]) == 31


def test_many_events_near_the_window_are_refused_before_they_are_parsed(tmp_path: Path) -> None:
    days = ("20310228T090000Z", "20310303T090000Z", "20310304T090000Z", "20310403T090000Z")
    text = HEAD + "".join(event(f"DTSTART:{d}", uid=f"{n}@x") for n, d in enumerate(days))
    answer, file = read(tmp_path, text + TAIL, Limits(max_occurrences=1))
    assert answer.errors == {
        "anna": f"calendar of anna (anna@example.com): {file} has 4 events within 3 days of "
        "2031-03-01 to 2031-04-01, more than twice the limit of 1 occurrences "
        "(max_occurrences, options of the local connector)"
    }
    # Up to twice the limit they are parsed and counted exactly: two are in March.
    assert read(tmp_path, text + TAIL, Limits(max_occurrences=2))[0].errors == {}


def test_limits_come_from_the_connector_options(tmp_path: Path) -> None:
    context = ConnectorContext(base_dir=tmp_path)
    options = {"path": str(tmp_path), "max_file_mb": 2, "max_events": 10, "max_occurrences": 5}
    assert open_connector(options, context).limits == Limits(2.0, 10, 5)
    assert open_connector({"path": str(tmp_path)}, context).limits == Limits()
    with pytest.raises(ConnectorUserError) as bad:
        open_connector({"path": str(tmp_path), "max_events": "many"}, context)
    assert str(bad.value) == (
        "local connector: `max_events` must be a positive whole number, not 'many'"
    )
    with pytest.raises(ConnectorUserError) as negative:
        open_connector({"path": str(tmp_path), "max_file_mb": -1}, context)
    assert str(negative.value) == "local connector: `max_file_mb` must be a positive number, not -1"


def test_unknown_tzid_is_read_in_the_owners_zone_with_a_warning(tmp_path: Path) -> None:
    text = HEAD + event(
        "DTSTART;TZID=Mars Standard Time:20310303T090000",
        "DTEND;TZID=Mars Standard Time:20310303T100000",
        uid="tz@x",
    )
    answer, file = read(tmp_path, text + TAIL, zone="Europe/Stockholm")
    assert answer.intervals["anna"] == (Busy(utc(3, 8), utc(3, 9)),)  # 09:00 CET
    assert answer.warnings == {
        "anna": (
            f"{file}, line 4, event tz@x: TZID 'Mars Standard Time' is neither a known time "
            "zone nor defined by a VTIMEZONE in the file; read in the owner's zone "
            "Europe/Stockholm",
        )
    }
    assert not answer.errors and "bo" not in answer.warnings


def test_known_and_defined_zones_give_no_warning(tmp_path: Path) -> None:
    text = HEAD + event(
        "DTSTART;TZID=W. Europe Standard Time:20310303T090000",
        "DTEND;TZID=Europe/Stockholm:20310303T100000",
    )
    answer, _ = read(tmp_path, text + TAIL)
    assert answer.intervals["anna"] == (Busy(utc(3, 8), utc(3, 9)),)
    assert answer.warnings == {}


def test_old_series_is_skipped_ahead_with_its_exdates_and_overrides(tmp_path: Path) -> None:
    """A daily series since 2020 in Stockholm time: moved to the window, its EXDATE and
    RECURRENCE-ID overrides (moved, cancelled) still apply, and DST still holds."""
    zone = "Europe/Stockholm"
    text = (
        HEAD
        + event(
            f"DTSTART;TZID={zone}:20200106T090000",
            f"DTEND;TZID={zone}:20200106T093000",
            "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
            f"EXDATE;TZID={zone}:20310304T090000",
            uid="s@x",
        )
        + event(
            f"RECURRENCE-ID;TZID={zone}:20310305T090000",
            f"DTSTART;TZID={zone}:20310305T140000",
            f"DTEND;TZID={zone}:20310305T150000",
            uid="s@x",
        )
        + event(
            f"RECURRENCE-ID;TZID={zone}:20310306T090000",
            f"DTSTART;TZID={zone}:20310306T090000",
            f"DTEND;TZID={zone}:20310306T093000",
            "STATUS:CANCELLED",
            uid="s@x",
        )
        + TAIL
    )
    answer, _ = read(tmp_path, text)
    found = answer.intervals["anna"]
    assert found[:3] == (
        Busy(utc(3, 8), utc(3, 8, 30)),  # Monday 3rd; 4th EXDATE
        Busy(utc(5, 13), utc(5, 14)),  # 5th moved to the afternoon; 6th cancelled
        Busy(utc(7, 8), utc(7, 8, 30)),
    )
    assert found[-1] == Busy(utc(31, 7), utc(31, 7, 30))  # CEST from 30 March
    assert len(found) == 21 - 2


def test_count_series_skipped_ahead_ends_where_its_count_ends(tmp_path: Path) -> None:
    # Occurrence i starts 5 i hours after 2030-01-01 00:00 UTC, i = 0..2099: the last
    # (10,495 h = 437 days 7 h) on 2031-03-14 07:00; the first in March is i = 2036
    # (10,180 h: 1 March 04:00); i = 2035 ends at midnight, when March begins.
    text = HEAD + event(
        "DTSTART:20300101T000000Z", "DURATION:PT1H", "RRULE:FREQ=HOURLY;INTERVAL=5;COUNT=2100"
    )
    found = read(tmp_path, text + TAIL)[0].intervals["anna"]
    assert found[0] == Busy(utc(1, 4), utc(1, 5))
    assert found[-1] == Busy(utc(14, 7), utc(14, 8))
    assert len(found) == 2100 - 2036
