"""iTIP invitations (RFC 5546) as RFC 5322 e-mails in an outbox folder.

Each attendee gets one `.eml` per change: a text/plain body and a
`text/calendar; method=REQUEST|CANCEL` part (what mail clients turn into an
Accept/Decline bar), plus the same calendar as an `invite.ics` attachment for clients
that only look at attachments. This is the shape Google and Outlook send.

File names and Message-IDs are derived from (key, SEQUENCE, method, attendee), so a
retried write after a crash replaces the same file rather than inviting twice.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from connectors.ics.events import to_block
from connectors.ics.files import CRLF, PRODID, atomic_write
from connectors.mail import new_message, set_address_header, set_text_header


def itip_calendar(method: str, vevent: icalendar.Event) -> bytes:
    """The iTIP calendar: what icalendar writes for PRODID, VERSION, METHOD and the
    event, built around `to_block` so the agenda is not folded again per attendee."""
    head = f"BEGIN:VCALENDAR{CRLF}VERSION:2.0{CRLF}PRODID:{PRODID}{CRLF}METHOD:{method}{CRLF}"
    return (head + to_block(vevent) + f"END:VCALENDAR{CRLF}").encode("utf-8")


def _stem(key: str, sequence: int, method: str, attendee: str) -> str:
    who = hashlib.sha256(attendee.lower().encode()).hexdigest()[:10]
    return f"{key}-s{sequence}-{method.lower()}-{who}"


def invitation(
    method: str,
    vevent: icalendar.Event,
    *,
    key: str,
    organizer: str,
    organizer_name: str,
    attendee: str,
    attendee_name: str,
    now: datetime,
    zone: str = "UTC",
) -> EmailMessage:
    """One attendee's REQUEST or CANCEL message for `vevent` (which holds SEQUENCE).
    The subject and body give the time in `zone`, the organiser's (the calendar part
    carries UTC, which every client converts)."""
    sequence = int(vevent.get("SEQUENCE", 0))
    summary = str(vevent.get("SUMMARY", "Coaching session"))
    start: Any = vevent["DTSTART"]  # icalendar's union type has no .dt on all members
    when = _local_time(start.dt, zone)
    # CRLF throughout (the text/calendar part too, as RFC 5545 wants) and names
    # encoded so that they read back unchanged in any language.
    message = new_message()
    set_address_header(message, "From", organizer_name, organizer)
    set_address_header(message, "To", attendee_name, attendee)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = f"<{_stem(key, sequence, method, attendee)}@coachpass>"
    if method == "CANCEL":
        set_text_header(message, "Subject", f"Cancelled: {summary}")
        comment = str(vevent.get("COMMENT", ""))
        body = f"This session has been cancelled: {summary} ({when}).\n"
        if comment:
            body += f"\n{comment}\n"
    else:
        updated = "Updated invitation" if sequence else "Invitation"
        set_text_header(message, "Subject", f"{updated}: {summary} @ {when}")
        body = f"{summary}\n{when}\n\n{vevent.get('DESCRIPTION', '')}\n"
    message.set_content(body)
    ics = itip_calendar(method, vevent)
    message.add_alternative(
        ics.decode("utf-8"), subtype="calendar", params={"method": method}, cte="base64"
    )
    message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return message


def _local_time(moment: datetime, zone: str) -> str:
    """`2027-01-20 10:15 CET`: what the organiser's own calendar shows. An unknown
    zone (settings validate them) falls back to UTC rather than failing an invitation."""
    try:
        tz: tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def write_to_outbox(outbox: Path, message: EmailMessage) -> Path:
    """Write the message as `<stem>.eml` (stem from its Message-ID); same id, same file."""
    outbox.mkdir(parents=True, exist_ok=True)
    stem = str(message["Message-ID"]).strip("<>").split("@", 1)[0]
    path = outbox / f"{stem}.eml"
    atomic_write(path, message.as_bytes())
    return path
