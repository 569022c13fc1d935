"""Busy time from hand-written calendars shaped like real exports (tests/connectors/ics/fixtures/).

Each expected interval is written out in UTC, worked out by hand from the fixture
(offsets: Stockholm CET +1 / CEST +2 from 2031-03-30 to 2031-10-26, New York EST -5 /
EDT -4 from 2031-03-09 to 2031-11-02).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.base import Busy, BusyKind, CalendarRef
from connectors.ics.connector import LocalConnector

FIXTURES = Path(__file__).parent / "fixtures"
MARCH = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))
B, T, OOF = BusyKind.BUSY, BusyKind.TENTATIVE, BusyKind.OOF


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2031, month, day, hour, minute, tzinfo=UTC)


def busy(
    calendar: str,
    zone: str = "Europe/Stockholm",
    window: tuple[datetime, datetime] = MARCH,
    tmp_path: Path | None = None,
) -> tuple[Busy, ...]:
    connector = LocalConnector(FIXTURES, tmp_path or FIXTURES / "unused-outbox")
    ref = CalendarRef("anna", "anna@example.com", calendar, zone)
    answer = connector.busy([ref], *window)
    assert not answer.errors, answer.errors
    return answer.intervals["anna"]


def test_recurring_series_with_exdate_and_overrides() -> None:
    assert busy("recurring.ics") == (
        Busy(utc(3, 3, 7, 30), utc(3, 3, 8), B),
        # 5th: EXDATE. 10th: override moved to 13:00. 12th: override cancelled.
        Busy(utc(3, 10, 12), utc(3, 10, 13), B),
        Busy(utc(3, 17, 7, 30), utc(3, 17, 8), B),
        Busy(utc(3, 19, 7, 30), utc(3, 19, 8), B),
    )


def test_weekly_meeting_keeps_local_time_across_dst() -> None:
    spring = busy("dst_weekly.ics", window=(utc(3, 15, 0), utc(4, 5, 0)))
    autumn = busy("dst_weekly.ics", window=(utc(10, 20, 0), utc(11, 1, 0)))
    assert spring == (
        Busy(utc(3, 20, 8), utc(3, 20, 9), B),
        Busy(utc(3, 27, 8), utc(3, 27, 9), B),
        Busy(utc(4, 3, 7), utc(4, 3, 8), B),  # CEST from 30 March
    )
    assert autumn == (
        Busy(utc(10, 23, 7), utc(10, 23, 8), B),
        Busy(utc(10, 30, 8), utc(10, 30, 9), B),  # CET again from 26 October
    )
    stockholm = ZoneInfo("Europe/Stockholm")
    assert {b.start.astimezone(stockholm).hour for b in spring + autumn} == {9}


def test_all_day_events_cover_days_in_owners_zone() -> None:
    assert busy("allday.ics", "America/New_York") == (
        Busy(utc(3, 4, 5), utc(3, 5, 5), B),
        Busy(utc(3, 10, 4), utc(3, 13, 4), B),  # three days, EDT
        Busy(utc(3, 20, 4), utc(3, 21, 4), B),  # no DTEND: one day
        # 25th: transparent birthday is free
    )
    # The same file for an owner in Stockholm: the days are Stockholm's days.
    assert busy("allday.ics", "Europe/Stockholm")[0] == Busy(utc(3, 3, 23), utc(3, 4, 23), B)


def test_day_outside_window_in_utc_but_inside_in_owners_zone() -> None:
    # 1 April in Auckland (NZDT, +13) starts at 11:00 UTC on 31 March.
    assert busy("allday.ics", "Pacific/Auckland")[-1] == Busy(utc(3, 31, 11), utc(4, 1, 0), B)


def test_transparent_cancelled_and_declined_are_free() -> None:
    assert busy("free_states.ics") == (
        # 09-10 transparent, 10-11 cancelled, 11-12 declined: all free.
        Busy(utc(3, 4, 12), utc(3, 4, 14), B),  # accepted 13-14 + unanswered 14-15, merged
        Busy(utc(3, 4, 15), utc(3, 4, 15, 30), B),
        # 5th: the owner declined that one occurrence
        Busy(utc(3, 6, 15), utc(3, 6, 15, 30), B),
    )


def test_tentative_status_and_tentative_reply() -> None:
    assert busy("tentative.ics") == (
        Busy(utc(3, 6, 9), utc(3, 6, 10), T),
        Busy(utc(3, 6, 12), utc(3, 6, 13), T),
    )


def test_outlook_export_busy_status_and_windows_zones() -> None:
    assert busy("outlook.ics", window=(utc(3, 1, 0), utc(4, 6, 0))) == (
        Busy(utc(3, 11, 8), utc(3, 11, 16), OOF),
        # 12th 09-10 FREE: free
        Busy(utc(3, 12, 9), utc(3, 12, 10), T),
        Busy(utc(3, 12, 13), utc(3, 12, 14), B),
        # 12th 16-17 WORKINGELSEWHERE: available
        Busy(utc(3, 12, 23), utc(3, 13, 23), OOF),  # all-day OOF, owner's (Stockholm) day
        Busy(utc(3, 14, 13), utc(3, 14, 14), B),  # "Eastern Standard Time", EDT
        Busy(utc(3, 28, 7), utc(3, 28, 7, 30), B),  # Outlook's own VTIMEZONE, CET
        Busy(utc(4, 4, 6), utc(4, 4, 6, 30), B),  # ... and CEST
    )


def test_floating_times_in_owners_zone_and_utc_times() -> None:
    assert busy("floating_utc.ics", "America/New_York") == (
        Busy(utc(3, 4, 15), utc(3, 4, 16), B),
        Busy(utc(3, 4, 18), utc(3, 4, 19), B),
        Busy(utc(3, 11, 14), utc(3, 11, 15), B),
    )
    assert busy("floating_utc.ics", "Europe/Stockholm")[0] == Busy(utc(3, 4, 9), utc(3, 4, 10), B)


def test_clipped_to_window_and_merged_per_kind() -> None:
    assert busy("clip_merge.ics", "UTC") == (
        Busy(utc(3, 1, 0), utc(3, 1, 2), B),
        Busy(utc(3, 5, 10), utc(3, 5, 12), B),
        Busy(utc(3, 5, 10, 30), utc(3, 5, 11, 30), T),
        Busy(utc(3, 5, 13), utc(3, 5, 15), B),  # back to back, one with DURATION
        Busy(utc(3, 31, 23), utc(4, 1, 0), B),
    )


def test_folder_calendar_reads_every_file() -> None:
    assert busy("folder_calendar", "UTC") == (
        Busy(utc(3, 7, 9), utc(3, 7, 10), B),
        Busy(utc(3, 8, 9), utc(3, 8, 10), B),
    )


def test_all_returned_times_are_aware() -> None:
    for name in ("recurring.ics", "allday.ics", "outlook.ics", "floating_utc.ics"):
        for item in busy(name):
            assert item.start.utcoffset() is not None and item.end.utcoffset() is not None


@pytest.mark.parametrize(
    ("calendar", "zone", "expected_in_message"),
    [
        ("broken.ics", "UTC", "broken.ics"),
        ("nobody.ics", "UTC", "nobody.ics"),
        ("recurring.ics", "Mars/Olympus_Mons", "Mars/Olympus_Mons"),
    ],
)
def test_unreadable_calendar_is_an_error_never_free(
    calendar: str, zone: str, expected_in_message: str, tmp_path: Path
) -> None:
    connector = LocalConnector(FIXTURES, tmp_path)
    refs = [
        CalendarRef("anna", "anna@example.com", calendar, zone),
        CalendarRef("bo", "bo@example.com", "tentative.ics", "Europe/Stockholm"),
    ]
    answer = connector.busy(refs, *MARCH)
    assert "anna" not in answer.intervals
    assert "anna" in answer.errors["anna"]
    assert expected_in_message in answer.errors["anna"]
    # One bad calendar does not stop the others.
    assert len(answer.intervals["bo"]) == 2


def test_same_custom_zone_name_in_two_files_keeps_each_definition(tmp_path: Path) -> None:
    # Outlook names custom zones "Customized Time Zone"; icalendar caches zones by name.
    connector = LocalConnector(FIXTURES, tmp_path)
    refs = [
        CalendarRef("west", "west@example.com", "custom_zone_minus5.ics", "UTC"),
        CalendarRef("east", "east@example.com", "custom_zone_plus1.ics", "UTC"),
    ]
    for order in (refs, refs[::-1]):
        answer = connector.busy(order, *MARCH)
        assert answer.intervals["west"] == (Busy(utc(3, 4, 14), utc(3, 4, 15), B),)
        assert answer.intervals["east"] == (Busy(utc(3, 4, 8), utc(3, 4, 9), B),)


def test_a_file_edited_in_place_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "cals"
    folder.mkdir()
    path = folder / "anna.ics"
    path.write_bytes((FIXTURES / "tentative.ics").read_bytes())
    connector = LocalConnector(folder, tmp_path / "outbox")
    ref = CalendarRef("anna", "anna@example.com", "anna.ics", "Europe/Stockholm")
    assert len(connector.busy([ref], *MARCH).intervals["anna"]) == 2
    with open(path, "r+b") as handle:  # same inode, as an editor saving in place
        text = handle.read().replace(b"STATUS:TENTATIVE", b"STATUS:CANCELLED\r\nX-EDITED:1")
        handle.seek(0)
        handle.write(text)
        handle.truncate()
    assert connector.busy([ref], *MARCH).intervals["anna"] == (
        Busy(utc(3, 6, 12), utc(3, 6, 13), T),
    )


def test_same_occurrences_as_recurring_ical_events_public_api() -> None:
    """`busy.occurrences` reads the library's Occurrence objects (no copy of the event
    per occurrence); the public API it falls back to gives the same occurrences."""
    import recurring_ical_events

    from connectors.ics.busy import occurrences, parse_calendars, public_occurrences

    def key(found: tuple[object, object, Any]) -> tuple[str, str, str]:
        return (str(found[0]), str(found[1]), str(found[2].get("UID")))

    checked = 0
    for file in sorted(FIXTURES.glob("*.ics")):
        if file.name == "broken.ics":
            continue
        for calendar in parse_calendars(file.read_bytes()):
            query = recurring_ical_events.of(calendar)
            fast = sorted(map(key, occurrences(query, *MARCH)))
            assert fast == sorted(map(key, public_occurrences(query, *MARCH))), file
            checked += len(fast)
    assert checked > 30
