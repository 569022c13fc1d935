"""Single events read from their text (`ics.simple`) give what icalendar gives.

Each case is read twice by `read_busy`: as it runs (plain single events without
icalendar) and with `simple=False` (every event through icalendar and
recurring_ical_events, the reading before this shortcut). Both must give the same
busy time and warnings, or the same defect message: on every fixture, on a demo
calendar, and on generated events mixing the forms real exports use and ones that
must be left to icalendar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ics.defects import CalendarDefect
from connectors.ics.limits import DEFAULT_LIMITS
from connectors.ics.read import BusyRead, read_busy
from connectors.ics.scan import scan
from connectors.ics.simple import simple_event
from scheduler.demo.data import DemoPerson, person_calendar
from scheduler.model import Month

FIXTURES = Path(__file__).parent / "fixtures"
START, END = datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC)
OWNER = "anna@example.com"


def both(data: bytes, zone: str = "Europe/Stockholm") -> tuple[object, object]:
    """(fast, reference): a BusyRead or the defect's message, for each reading."""
    answers: list[object] = []
    for simple in (True, False):
        try:
            files = [scan("anna.ics", data)]
            read: object = read_busy(
                "anna.ics", files, OWNER, ZoneInfo(zone), START, END, DEFAULT_LIMITS, simple=simple
            )
        except CalendarDefect as exc:
            read = str(exc)
        answers.append(read)
    return answers[0], answers[1]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.ics")))
def test_every_fixture_reads_the_same(name: str) -> None:
    fast, reference = both((FIXTURES / name).read_bytes())
    assert fast == reference


def test_a_demo_calendar_reads_the_same_and_mostly_without_icalendar() -> None:
    person = DemoPerson("anna", "Anna", OWNER, "Europe/Stockholm", "SE", None)
    data = person_calendar(person, manager=False, month=Month(2031, 3))
    fast, reference = both(data)
    assert isinstance(fast, BusyRead) and fast == reference and fast.intervals
    events = scan("anna.ics", data).calendars[0].events
    simple = [e for e in events if simple_event(e.text) is not None]
    assert len(simple) >= len(events) - 3  # the weekly series, its override, the stand-up


HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
ZONES = (
    "BEGIN:VTIMEZONE\r\nTZID:Custom Zone\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
    "TZOFFSETFROM:+0500\r\nTZOFFSETTO:+0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)


def mostly(plain: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """Plain forms four times in five, odd ones (left to icalendar) otherwise."""
    return st.one_of(*[st.sampled_from(plain)] * 4, st.sampled_from(odd))


TIMES = mostly(
    [
        "20310304T090000Z",
        "20310304T090000",
        "20310304T100000Z",
        "20310228T230000Z",
        "20310401T010000",
        "20310331T233000Z",
        "20310329T020000",  # 02:00-03:00 does not exist in Stockholm that night
    ],
    ["20310304", "2031030", "20311304T090000Z", "20310304t090000z", "09990101T000000Z", ""],
)
DATES = st.sampled_from(["20310304", "20310305", "20310301", "20310401", "20310228"])
TIME_PARAMS = mostly(
    ["", "", ";TZID=Europe/Stockholm", ';TZID="America/New_York"', ";VALUE=DATE-TIME"],
    [
        ";TZID=W. Europe Standard Time",
        ";TZID=Custom Zone",
        ";TZID=Nowhere/Special",
        ";VALUE=DATE",
        ";VALUE=PERIOD",
        ";X-FOO=bar",
    ],
)
DURATIONS = mostly(
    ["PT1H", "PT90M", "P1D", "PT0S", "P1DT2H", "PT36H"], ["P1W", "-PT1H", "P", "one hour", "P1W2D"]
)
PROPERTY_LINES = mostly(
    [
        "STATUS:CANCELLED",
        "STATUS:cancelled",
        "STATUS:TENTATIVE",
        "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT",
        "TRANSP:OPAQUE",
        "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
        "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
        "X-MICROSOFT-CDO-BUSYSTATUS:tentative",
        "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE",
        "X-MICROSOFT-CDO-BUSYSTATUS:ODD",
        f"ATTENDEE;PARTSTAT=DECLINED:mailto:{OWNER}",
        f'ATTENDEE;CN="Anna, A";PARTSTAT="TENTATIVE":MAILTO:{OWNER.upper()}',
        f"ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:{OWNER}",
        "ATTENDEE;PARTSTAT=DECLINED:mailto:someone@else.example",
        "SUMMARY:Lunch\\, with \\;friends",
        "DESCRIPTION:a line\\nanother",
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM",
        "BEGIN:VALARM\r\nTRIGGER;RELATED=END:PT5M\r\nDESCRIPTION:x\r\nEND:VALARM",
        "SEQUENCE:1",
    ],
    [
        "STATUS:CANC\\,ELLED",
        f"ATTENDEE;PARTSTAT=declined;PARTSTAT=ACCEPTED:mailto:{OWNER}",
        f"ATTENDEE;PARTSTAT=ACCEPTED,DECLINED:mailto:{OWNER}",
        "RRULE:FREQ=DAILY;COUNT=3",
        "RDATE:20310310T090000Z",
        "EXDATE:20310304T090000Z",
        "RECURRENCE-ID:20310304T090000Z",
        "BEGIN:VALARM\r\nDTSTART:garbage\r\nEND:VALARM",
        "BEGIN:X-ODD\r\nEND:X-ODD",
        "no colon on this line",
        'X-EMPTY;X-P="quoted":',
        "STATUS:TENTATIVE",  # with another STATUS: twice
        "SEQUENCE:x",
        "SEQUENCE:1",  # with another SEQUENCE: twice
        "BEGIN:VALARM\r\nTRIGGER:garbage\r\nEND:VALARM",
        "BEGIN:VALARM\r\nREPEAT:x\r\nDURATION:x\r\nEND:VALARM",
        "BEGIN:VALARM\r\nTRIGGER;VALUE=DATE-TIME:20310304T080000Z\r\nEND:VALARM",
    ],
)


@st.composite
def single_events(draw: st.DrawFn) -> bytes:
    lines = [f"UID:{draw(st.sampled_from(['e1@x', 'e2@x', 'e1@x ']))}"]
    if draw(st.integers(0, 9)):
        if draw(st.integers(0, 4)):
            lines.append(f"DTSTART{draw(TIME_PARAMS)}:{draw(TIMES)}")
        else:
            lines.append(f"DTSTART;VALUE=DATE:{draw(DATES)}")
    ending = draw(st.integers(0, 3))
    if ending in (1, 2):
        if "VALUE=DATE:" in lines[-1] and draw(st.integers(0, 3)):
            lines.append(f"DTEND;VALUE=DATE:{draw(DATES)}")
        else:
            lines.append(f"DTEND{draw(TIME_PARAMS)}:{draw(TIMES)}")
    if ending in (2, 3):
        lines.append(f"DURATION:{draw(DURATIONS)}")
    lines += draw(st.lists(PROPERTY_LINES, max_size=4))
    lines = draw(st.permutations(lines))
    zones = ZONES if draw(st.booleans()) else ""
    events = ["BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in lines) + "END:VEVENT\r\n"]
    if draw(st.booleans()):  # a second, plain event (its UID may clash with the first)
        events.append(
            f"BEGIN:VEVENT\r\nUID:{draw(st.sampled_from(['e1@x', 'e9@x']))}\r\n"
            "DTSTART:20310305T080000Z\r\nDTEND:20310305T083000Z\r\nEND:VEVENT\r\n"
        )
    return (HEAD + zones + "".join(events) + "END:VCALENDAR\r\n").encode()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=single_events(), zone=st.sampled_from(["UTC", "Europe/Stockholm", "Asia/Tokyo"]))
def test_generated_single_events_read_the_same(data: bytes, zone: str) -> None:
    fast, reference = both(data, zone)
    assert fast == reference, data.decode()


LOCAL_TIMES = st.sampled_from(
    ["20310304T090000", "20310228T230000", "20310401T010000", "20310329T023000", "20311026T023000"]
)
PLAIN_PARAMS = st.sampled_from(["", ";TZID=Europe/Stockholm", ';TZID="America/New_York"'])
PLAIN_LINES = st.sampled_from(
    [
        "STATUS:CANCELLED",
        "STATUS:tentative",
        "TRANSP:TRANSPARENT",
        "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
        "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
        "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE",
        f"ATTENDEE;PARTSTAT=DECLINED:mailto:{OWNER}",
        f'ATTENDEE;CN="Anna, A";PARTSTAT="TENTATIVE":MAILTO:{OWNER.upper()}',
        "ATTENDEE;PARTSTAT=DECLINED:mailto:someone@else.example",
        "SUMMARY:Lunch\\, with \\;friends",
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM",
    ]
)


@st.composite
def plain_single_events(draw: st.DrawFn) -> bytes:
    """Events `ics.simple` must read itself (no odd form among them)."""
    kind = draw(st.sampled_from(["utc", "local", "date"]))
    if kind == "date":
        day = draw(st.integers(1, 31))
        times = [f"DTSTART;VALUE=DATE:203103{day:02d}"]
        if draw(st.booleans()):
            times.append(f"DTEND;VALUE=DATE:203104{draw(st.integers(1, 3)):02d}")
    else:
        params = "" if kind == "utc" else draw(PLAIN_PARAMS)
        suffix = "Z" if kind == "utc" else ""
        first, second = sorted(draw(st.lists(LOCAL_TIMES, min_size=2, max_size=2)))
        times = [f"DTSTART{params}:{first}{suffix}"]
        ending = draw(st.sampled_from(["dtend", "duration", "none"]))
        if ending == "dtend":
            times.append(f"DTEND{params}:{second}{suffix}")
        elif ending == "duration":
            times.append(f"DURATION:PT{draw(st.integers(0, 3000))}M")
    lines = draw(st.permutations([f"UID:p{draw(st.integers(0, 99))}@x", *times]))
    lines += draw(st.lists(PLAIN_LINES, max_size=3, unique=True).filter(_one_status))
    body = "".join(f"{line}\r\n" for line in lines)
    return (HEAD + "BEGIN:VEVENT\r\n" + body + "END:VEVENT\r\n" + "END:VCALENDAR\r\n").encode()


def _one_status(lines: list[str]) -> bool:
    names = [line.split(":", 1)[0].split(";", 1)[0] for line in lines if "ATTENDEE" not in line]
    return len(names) == len(set(names))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=plain_single_events(), zone=st.sampled_from(["UTC", "Europe/Stockholm", "Asia/Tokyo"]))
def test_plain_single_events_are_read_without_icalendar_and_the_same(
    data: bytes, zone: str
) -> None:
    [event] = scan("anna.ics", data).calendars[0].events
    assert simple_event(event.text) is not None, data.decode()
    fast, reference = both(data, zone)
    assert fast == reference, data.decode()


def test_an_iana_zone_is_read_from_the_zone_database_whatever_its_vtimezone_says() -> None:
    """Its VTIMEZONE is not parsed at all (`simple.custom_zones`): icalendar would
    not use it either, as this wrong one (+05:00 for Stockholm) shows."""
    bogus = (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Stockholm\r\nBEGIN:STANDARD\r\n"
        "DTSTART:19700101T000000\r\nTZOFFSETFROM:+0500\r\nTZOFFSETTO:+0500\r\n"
        "END:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    series = (
        "BEGIN:VEVENT\r\nUID:w@x\r\nDTSTART;TZID=Europe/Stockholm:20310303T100000\r\n"
        "DTEND;TZID=Europe/Stockholm:20310303T110000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"
        "END:VEVENT\r\n"
    )
    data = (HEAD + bogus + ZONES + series + "END:VCALENDAR\r\n").encode()
    fast, reference = both(data, "UTC")
    assert isinstance(fast, BusyRead) and fast == reference
    assert fast.intervals[0].start == datetime(2031, 3, 3, 9, tzinfo=UTC)  # CET, not +05:00
