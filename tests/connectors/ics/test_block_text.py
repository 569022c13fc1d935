"""Event text written without icalendar's per-character fold (`events.fold`,
`events.to_block`, `itip.itip_calendar`) is byte for byte what icalendar writes; the
unfold that reads it back is the regular expression it replaced."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import icalendar
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser import Contentline

from connectors.base import Attachment, Attendee, CalendarRef, NewEvent
from connectors.ics import events
from connectors.ics.files import PRODID, unfold
from connectors.ics.itip import itip_calendar

# Escapes icalendar keeps whole (\ and ^), one- to four-byte characters, separators.
CHARACTERS = st.sampled_from([*'ab\\^,;: "öé€李😀', "\t"])


@settings(max_examples=500, deadline=None)
@given(st.lists(CHARACTERS, max_size=400).map("".join))
def test_fold_is_icalendars_fold(line: str) -> None:
    assert events.fold(line) == Contentline(line).to_ical().decode("utf-8")


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["\r", "\n", " ", "\t", "a", "\r\n ", "\n\t"]), max_size=30))
def test_unfold_is_the_regular_expression(parts: list[str]) -> None:
    text = "".join(parts)
    assert unfold(text) == re.sub(r"\r?\n[ \t]", "", text)


def session(attachment: bytes, name: str = "Séller, Ö ^") -> icalendar.Event:
    start = datetime(2031, 3, 4, 9, tzinfo=UTC)
    event = NewEvent(
        key="cp" + "a" * 32,
        organizer=CalendarRef("m", "m@example.com", "m.ics", "UTC"),
        attendees=(Attendee("s@example.com", name),),
        start=start,
        end=start + timedelta(hours=1),
        summary="Coaching: Åsa / Ö " * 5,
        description_text="Agenda\n- wins, goals; next\n" * 40,
        description_html="<p>Agenda ö 😀</p>\n" * 40,
        attachments=(
            Attachment("agenda-ö.html", "text/html", attachment),
            Attachment("guide.pdf", "application/pdf", b"%PDF-1.4 \x00\xff" * 300),
        ),
        guideline_url="https://intranet.example.com/coaching",
        video_url="https://video.example.com/r/abc",
    )
    return events.session_event(event, datetime(2031, 2, 1, tzinfo=UTC))


def test_event_and_invitation_text_are_icalendars() -> None:
    for size in (0, 1, 73, 5_000, 70_000):
        vevent = session(os.urandom(size))
        assert events.to_block(vevent) == vevent.to_ical().decode("utf-8")
        assert events.to_block(vevent) == vevent.to_ical().decode("utf-8")  # kept copy
        calendar = icalendar.Calendar()
        calendar.add("PRODID", PRODID)
        calendar.add("VERSION", "2.0")
        calendar.add("METHOD", "REQUEST")
        calendar.add_component(vevent)
        assert itip_calendar("REQUEST", vevent) == calendar.to_ical()
        # Read back and written again (moves and cancellations do that).
        again = events.parse_block(events.to_block(vevent))
        assert events.to_block(again) == again.to_ical().decode("utf-8")


def test_a_backslash_in_a_name_reads_back_as_written() -> None:
    """The one place the text differs from icalendar's: it writes `CN=Kim\\` bare and
    reads it back as an escape (losing the parameters after it)."""
    for name in ("\\", "\\:", "Kim \\ Lee", 'O\'Brien \\, "Bob"'):
        vevent = session(b"", name)
        [attendee] = [events.parse_block(events.to_block(vevent))["ATTENDEE"]]
        assert attendee.params["CN"] == str(vevent["ATTENDEE"].params["CN"])
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
