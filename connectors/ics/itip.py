"""iTIP invitations (RFC 5546) as RFC 5322 e-mails in an outbox folder.

Each attendee gets one `.eml` per change: a text/plain body and a
`text/calendar; method=REQUEST|CANCEL` part (what mail clients turn into an
Accept/Decline bar), plus the same calendar as an `invite.ics` attachment for clients
that only look at attachments. This is the shape Google and Outlook send.

File names and Message-IDs are derived from (key, SEQUENCE, method, attendee), so a
retried write after a crash replaces the same file rather than inviting twice.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email import quoprimime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from connectors.ics.events import to_block
from connectors.ics.files import CRLF, PRODID
from connectors.mail import address_header_value, text_header_value


def itip_calendar(method: str, vevent: icalendar.Event, block: str | None = None) -> bytes:
    """The iTIP calendar: what icalendar writes for PRODID, VERSION, METHOD and the
    event, built around `to_block` (or its `block`, already made) so the agenda is
    not folded again per attendee."""
    head = f"BEGIN:VCALENDAR{CRLF}VERSION:2.0{CRLF}PRODID:{PRODID}{CRLF}METHOD:{method}{CRLF}"
    event = to_block(vevent) if block is None else block
    return (head + event + f"END:VCALENDAR{CRLF}").encode("utf-8")


def _stem(key: str, sequence: int, method: str, attendee: str) -> str:
    who = hashlib.sha256(attendee.lower().encode()).hexdigest()[:10]
    return f"{key}-s{sequence}-{method.lower()}-{who}"


@dataclass(frozen=True)
class Invitation:
    """One attendee's invitation e-mail: its Message-ID and the whole message."""

    message_id: str  # without the angle brackets
    data: bytes

    @property
    def file_name(self) -> str:
        """`<stem>.eml`, the stem from the Message-ID: same message, same file."""
        return f"{self.message_id.split('@', 1)[0]}.eml"


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
    block: str | None = None,
) -> Invitation:
    """One attendee's REQUEST or CANCEL message for `vevent` (which holds SEQUENCE).
    The subject and body give the time in `zone`, the organiser's (the calendar part
    carries UTC, which every client converts). `block` is `to_block(vevent)` when
    the caller has it already (it is ~1 ms per session).

    The message is written here as bytes, not built as an `EmailMessage`: Python's
    e-mail package took ~7 ms per invitation (header objects, and the generator's
    two calls per line of the two base64 parts), most of a local booking's writing.
    Its shape is fixed, and what Python's parser (`policy.default`) reads back is what
    `EmailMessage` would have held: headers encoded by `connectors.mail` as for every
    other message, the body quoted-printable and the calendar base64 as its content
    manager encodes them, CRLF throughout (RFC 5322, and RFC 5545 for the calendar)."""
    sequence = int(vevent.get("SEQUENCE", 0))
    summary = str(vevent.get("SUMMARY", "Coaching session"))
    start: Any = vevent["DTSTART"]  # icalendar's union type has no .dt on all members
    when = _local_time(start.dt, zone)
    if method == "CANCEL":
        subject = f"Cancelled: {summary}"
        comment = str(vevent.get("COMMENT", ""))
        body = f"This session has been cancelled: {summary} ({when}).\n"
        if comment:
            body += f"\n{comment}\n"
    else:
        updated = "Updated invitation" if sequence else "Invitation"
        subject = f"{updated}: {summary} @ {when}"
        body = f"{summary}\n{when}\n\n{vevent.get('DESCRIPTION', '')}\n"
    stem = _stem(key, sequence, method, attendee)
    message_id = f"{stem}@coachpass"
    ics = itip_calendar(method, vevent, block)
    # Boundaries from the stem: "=_" never occurs in quoted-printable or base64 text,
    # so they cannot appear inside a part, and a rewrite after a crash is the same.
    mixed, alternative = f"=_{stem}.m", f"=_{stem}.a"
    head = _headers(
        ("From", address_header_value("From", organizer_name, organizer)),
        ("To", address_header_value("To", attendee_name, attendee)),
        ("Date", format_datetime(now.astimezone(UTC))),
        # One line (80 characters, within RFC 5322's 998): folded, Python's parser
        # reads it back with a leading space.
        ("Message-ID", f"<{message_id}>"),
        ("Subject", text_header_value("Subject", subject)),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed;\n boundary="{mixed}"'),
    )
    calendar = CRLF.join(
        [
            f"--{mixed}",
            "Content-Type: multipart/alternative;",
            f' boundary="{alternative}"',
            "",
            f"--{alternative}",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _quoted_printable(body),
            f"--{alternative}",
            f'Content-Type: text/calendar; charset="utf-8"; method="{method}"',
            "Content-Transfer-Encoding: base64",
            "",
            _base64_lines(CRLF.encode().join(ics.splitlines()) + CRLF.encode()),
            f"--{alternative}--",
            "",
            f"--{mixed}",
            "Content-Type: application/ics",
            "Content-Transfer-Encoding: base64",
            'Content-Disposition: attachment; filename="invite.ics"',
            "",
            _base64_lines(ics),
            f"--{mixed}--",
            "",
        ]
    )
    return Invitation(message_id, (head + CRLF + calendar).encode("ascii"))


def _headers(*fields: tuple[str, str]) -> str:
    """Header lines as the e-mail package writes raw values: folds ("\\n ") kept,
    with CRLF line ends."""
    return "".join(f"{name}: {CRLF.join(value.splitlines())}{CRLF}" for name, value in fields)


def _quoted_printable(text: str) -> str:
    """UTF-8 text quoted-printable, as `EmailMessage.set_content` encodes it (lines
    of at most 78 characters), ending in a line break that is part of the content
    (the line break before a boundary line belongs to the boundary)."""
    data = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    return quoprimime.body_encode(data.decode("latin-1"), 78, eol=CRLF)


def _base64_lines(data: bytes) -> str:
    """Base64 in lines of 76 characters, each ending in CRLF."""
    return base64.encodebytes(data).decode("ascii").replace("\n", CRLF)


def _local_time(moment: datetime, zone: str) -> str:
    """`2027-01-20 10:15 CET`: what the organiser's own calendar shows. An unknown
    zone (settings validate them) falls back to UTC rather than failing an invitation."""
    try:
        tz: tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
