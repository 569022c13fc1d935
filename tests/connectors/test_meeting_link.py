"""`with_link`: the agenda's link mark becomes the one link the invite carries."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from connectors.base import LINK_MARK, Attachment, Attendee, CalendarRef, NewEvent, with_link

ANCHOR = f'<a href="{LINK_MARK}">{LINK_MARK}</a>'
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3a?a=1&b=2"


def marked() -> NewEvent:
    start = datetime(2031, 3, 3, 9, tzinfo=UTC)
    return NewEvent(
        key="cpkey",
        organizer=CalendarRef("boss", "boss@example.com", "boss@example.com"),
        attendees=(Attendee("s1@example.com"),),
        start=start,
        end=start + timedelta(minutes=45),
        summary="Coaching",
        description_text=f"Video: {LINK_MARK}",
        description_html=f"<p>Video: {ANCHOR}</p>",
        attachments=(
            Attachment("agenda.html", "text/html", f"<p>{ANCHOR}</p>".encode()),
            Attachment("guide.md", "text/markdown", b"no link here"),
            Attachment("logo.png", "image/png", b"\x89PNG" + LINK_MARK.encode()),
        ),
        video_url="https://meet.example.com/coaching-cpkey",
        link_mark=LINK_MARK,
        no_link_text="use the meeting link in this invitation",
    )


def test_the_link_fills_description_and_text_files_escaped_for_html() -> None:
    filled = with_link(marked(), TEAMS)
    escaped = TEAMS.replace("&", "&amp;")
    assert filled.description_text == f"Video: {TEAMS}"
    assert filled.description_html == f'<p>Video: <a href="{escaped}">{escaped}</a></p>'
    agenda, guide, logo = filled.attachments
    assert agenda.data.decode() == f'<p><a href="{escaped}">{escaped}</a></p>'
    assert guide.data == b"no link here"
    assert logo.data == marked().attachments[2].data  # binary files are not touched
    assert filled.link_mark is None  # filled once: a second fill changes nothing
    assert with_link(filled, "https://other.example.com") == filled


def test_without_any_link_the_agenda_points_to_the_invitation() -> None:
    filled = with_link(marked(), None)
    assert filled.description_text == "Video: use the meeting link in this invitation"
    assert filled.description_html == "<p>Video: use the meeting link in this invitation</p>"
    assert LINK_MARK not in filled.attachments[0].data.decode()


def test_an_unmarked_event_is_left_as_it_is() -> None:
    plain = dataclasses.replace(marked(), link_mark=None)
    assert with_link(plain, TEAMS) is plain
