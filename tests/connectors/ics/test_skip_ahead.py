"""Moving a series forward to the window (`ics.rules.skip_ahead`) changes nothing in the
window: the same busy time as expanding the unmodified calendar from its first
occurrence with recurring_ical_events (the reference), for random rules, zones,
COUNTs, BY... parts and EXDATEs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recurring_ical_events.errors import BadRuleStringFormat

from connectors.ics.busy import busy_intervals, parse_calendars
from connectors.ics.defects import CalendarDefect
from connectors.ics.limits import Limits
from connectors.ics.read import read_busy
from connectors.ics.scan import scan

START, END = datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC)
OWNER = ZoneInfo("America/New_York")
PERIODS = {  # FREQ -> intervals small enough for the reference to expand in a blink
    "MINUTELY": st.integers(97, 600),
    "HOURLY": st.integers(1, 40),
    "DAILY": st.integers(1, 9),
    "WEEKLY": st.integers(1, 3),
}
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def series(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(sorted(PERIODS)))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(PERIODS[freq])}"]
    if draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.sets(st.sampled_from(DAYS), min_size=1))))
    if freq in ("MINUTELY", "HOURLY") and draw(st.booleans()):
        parts.append("BYHOUR=" + ",".join(map(str, draw(st.sets(st.integers(0, 23), min_size=1)))))
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 3000))}")
    elif draw(st.booleans()):
        until = draw(st.sampled_from(["20310201T000000Z", "20310310T120000Z", "20310415T000000Z"]))
        parts.append(f"UNTIL={until}")
    back = timedelta(minutes=draw(st.integers(0, 400 * 24 * 60)))
    first = datetime(2031, 3, 1, 0, 0) - back
    stamp = first.strftime("%Y%m%dT%H%M00")
    kind = draw(st.sampled_from(["utc", "zoned", "floating", "date"]))
    if kind == "date" and freq in ("MINUTELY", "HOURLY"):
        kind = "zoned"
    start = {
        "utc": f"DTSTART:{stamp}Z",
        "zoned": f"DTSTART;TZID=Europe/Stockholm:{stamp}",
        "floating": f"DTSTART:{stamp}",
        "date": f"DTSTART;VALUE=DATE:{stamp[:8]}",
    }[kind]
    minutes = draw(st.integers(0, 3 * 24 * 60))
    end = f"DURATION:PT{minutes}M" if kind != "date" else "DURATION:P1D"
    exdate = ""
    if kind == "utc" and draw(st.booleans()):
        # An EXDATE on a time of the original grid inside the window, if the grid has one.
        step = {"MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 604800}[freq]
        interval = int(parts[1].split("=")[1])
        k = -(-int((datetime(2031, 3, 5) - first).total_seconds()) // (step * interval))
        ex = first + timedelta(seconds=k * step * interval)
        exdate = f"EXDATE:{ex:%Y%m%dT%H%M%S}Z\r\n"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:s@x\r\nDTSTAMP:20310101T000000Z\r\n{start}\r\n{end}\r\n"
        f"RRULE:{';'.join(parts)}\r\n{exdate}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series())
def test_skipping_ahead_gives_the_same_busy_time_as_expanding_from_the_start(text: str) -> None:
    files = [scan("s.ics", text.encode())]
    limits = Limits(max_occurrences=1_000_000)
    try:
        found = read_busy("s.ics", files, "o@x", OWNER, START, END, limits).intervals
    except CalendarDefect as exc:
        # A rule whose INTERVAL never meets its BY... parts (FREQ=DAILY;INTERVAL=7;BYDAY=MO
        # from a Saturday) matches nothing: the reference would walk to the year 9999.
        # dateutil itself refuses some (MINUTELY;INTERVAL=160;BYHOUR=0: "resulting in
        # empty rule").
        message = str(exc)
        empty = any(
            words in message
            for words in ("it matches (almost) no date", "generates an empty set", "empty rule")
        )
        assert empty and "BY" in text, message
        return
    try:
        expected = busy_intervals(parse_calendars(text.encode()), "o@x", OWNER, START, END)
    except BadRuleStringFormat:
        # The reference refuses an UNTIL before a zoned DTSTART (no occurrence at all);
        # read_busy never parses a series that ended before the window.
        assert "UNTIL=20310201T000000Z" in text and found == ()
        return
    assert found == expected
