"""Coachpass session VEVENTs: build one from a `NewEvent`, read one back as an
`EventState`, move or cancel it. Pure: text and values in, text and values out."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

import icalendar

from connectors.base import SESSION_TAG, UID_DOMAIN, EventState, NewEvent, Response
from connectors.ics.busy import mailto, occurrence_span
from connectors.ics.files import Span

_RESPONSES = {
    "ACCEPTED": Response.ACCEPTED,
    "DECLINED": Response.DECLINED,
    "TENTATIVE": Response.TENTATIVE,
    "NEEDS-ACTION": Response.NEEDS_ACTION,
}


def uid_of(key: str) -> str:
    return f"{key}@{UID_DOMAIN}"


def key_of(uid: str | None, tag: str | None) -> str | None:
    """The session key of a VEVENT: the private tag, else a `<key>@coachpass` UID."""
    if tag:
        return tag.strip()
    suffix = f"@{UID_DOMAIN}"
    if uid and uid.strip().endswith(suffix):
        return uid.strip()[: -len(suffix)]
    return None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _address(email: str, name: str = "", **params: str) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = name
    for key, value in params.items():
        address.params[key.replace("_", "-")] = value
    return address


def session_event(event: NewEvent, now: datetime, organizer_name: str = "") -> icalendar.Event:
    """The VEVENT of a new session: SEQUENCE 0, every attendee NEEDS-ACTION."""
    vevent = icalendar.Event()
    vevent.add("UID", uid_of(event.key))
    vevent.add("DTSTAMP", _utc(now))
    vevent.add("CREATED", _utc(now))
    vevent.add("LAST-MODIFIED", _utc(now))
    vevent.add("SEQUENCE", 0)
    vevent.add("DTSTART", _utc(event.start))
    vevent.add("DTEND", _utc(event.end))
    vevent.add("SUMMARY", event.summary)
    vevent.add("DESCRIPTION", event.description_text)
    if event.description_html:
        # vText escapes newlines; icalendar leaves unknown X- properties raw otherwise.
        vevent.add(
            "X-ALT-DESC",
            icalendar.vText(event.description_html),
            parameters={"FMTTYPE": "text/html"},
        )
    vevent.add("STATUS", "CONFIRMED")
    vevent.add("TRANSP", "OPAQUE")
    vevent.add("ORGANIZER", _address(event.organizer.email, organizer_name))
    for attendee in event.attendees:
        vevent.add(
            "ATTENDEE",
            _address(
                attendee.email,
                attendee.name,
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION",
                RSVP="TRUE",
            ),
        )
    location = event.location or event.video_url or ""
    if location:
        vevent.add("LOCATION", location)
    if event.video_url:
        vevent.add("URL", event.video_url)
    if event.guideline_url:
        vevent.add("ATTACH", event.guideline_url, parameters={"VALUE": "URI"})
    for attachment in event.attachments:
        # vBinary (icalendar >= 7) takes the raw bytes, base64-encodes them itself and
        # sets ENCODING/VALUE; we add the media type and name.
        attach = icalendar.vBinary(attachment.data)
        attach.params["FMTTYPE"] = attachment.mime_type
        attach.params["X-FILENAME"] = attachment.filename
        vevent.add("ATTACH", attach)
    vevent.add(SESSION_TAG, event.key)
    return vevent


def to_block(vevent: icalendar.Component) -> str:
    """The VEVENT as text, exactly as `vevent.to_ical()` writes it, only faster:
    icalendar folds long lines with a loop per character (~10 ms per 100 kB agenda,
    on every session, copy and invitation). Lines that are plain ASCII are folded by
    slicing, and a binary attachment's line is kept per content (the guidelines are
    the same in every session, and each session's agenda is written twice)."""
    lines: list[str] = []
    for name, value in vevent.property_items():
        if isinstance(value, icalendar.vBinary):
            lines.append(_folded_binary(vevent, name, value))
        else:
            line = vevent.content_line(name, value)
            if name in ("ATTENDEE", "ORGANIZER") and "\\" in line:
                line = _backslashes_kept(line)
            lines.append(fold(line))
    return "".join(f"{line}\r\n" for line in lines if line)


_PARAMETERS = re.compile(r'([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*))*):')
_PARAMETER = re.compile(r'(;[A-Za-z0-9-]+=)("[^"]*"|[^";:,]*)')


def _backslashes_kept(line: str) -> str:
    """A name with a backslash (CN=`Kim \\ Lee`, `\\:`) in a parameter, written so
    that it reads back as written: icalendar writes it bare and then reads `\\;` or
    `\\:` as an escape, losing the character or every parameter after it. Quoted and
    with the backslash doubled, it reads back unchanged."""
    head = _PARAMETERS.match(line)
    if head is None:
        return line

    def kept(parameter: re.Match[str]) -> str:
        value = parameter.group(2)
        if "\\" not in value:
            return parameter.group(0)
        inner = value[1:-1] if value.startswith('"') else value
        return f'{parameter.group(1)}"{inner.replace(chr(92), chr(92) * 2)}"'

    params = _PARAMETER.sub(kept, head.group(2))
    return head.group(1) + params + line[head.end() - 1 :]


#: icalendar's fold: at most 75 octets per line, the continuation's space included.
_FOLD_OCTETS = 74


def fold(line: str) -> str:
    """A content line folded exactly as icalendar folds it (`Contentline.to_ical`):
    greedy runs of at most 74 octets cut between characters, never right after a
    backslash or caret (kept with the escape it starts). Cut on the UTF-8 bytes in
    one pass instead of icalendar's loop per character."""
    data = line.encode("utf-8")
    if len(data) <= _FOLD_OCTETS:
        return line
    size = len(data)
    chunks: list[bytes] = []
    begin = 0
    while size - begin > _FOLD_OCTETS:
        cut = begin + _FOLD_OCTETS
        while data[cut] & 0xC0 == 0x80:  # inside a multi-byte character
            cut -= 1
        if cut - begin > 1 and data[cut - 1] in b"\\^":
            cut -= 1
        chunks.append(data[begin:cut])
        begin = cut
    chunks.append(data[begin:])
    return b"\r\n ".join(chunks).decode("utf-8")


_FOLDED: dict[tuple[str, bytes, str], str] = {}
_FOLDED_KEEP = 16  # distinct attachments kept (the guidelines, and an agenda or two)


def _folded_binary(vevent: icalendar.Component, name: str, value: icalendar.vBinary) -> str:
    key = (name, value.to_ical(), repr(sorted(value.params.items())))
    folded = _FOLDED.get(key)
    if folded is None:
        folded = fold(vevent.content_line(name, value))
        if len(_FOLDED) >= _FOLDED_KEEP:
            _FOLDED.pop(next(iter(_FOLDED)))
        _FOLDED[key] = folded
    return folded


def parse_block(block: str) -> icalendar.Event:
    component = icalendar.Event.from_ical(block)
    assert isinstance(component, icalendar.Event)
    return component


def organizer_email(vevent: icalendar.Component) -> str | None:
    organizer = vevent.get("ORGANIZER")
    return mailto(organizer) if organizer is not None else None


def _attendees(vevent: icalendar.Component) -> list[Any]:
    attendees = vevent.get("ATTENDEE")
    if attendees is None:
        return []
    return attendees if isinstance(attendees, list) else [attendees]


def event_state(vevent: icalendar.Component, key: str, zone: tzinfo) -> EventState | None:
    span = occurrence_span(vevent, zone)
    if span is None:
        return None
    organizer = organizer_email(vevent)
    responses: dict[str, Response] = {}
    for attendee in _attendees(vevent):
        email = mailto(attendee)
        if email and email != organizer:
            partstat = str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
            responses[email] = _RESPONSES.get(partstat, Response.NEEDS_ACTION)
    return EventState(
        key=key,
        event_id=str(vevent.get("UID", uid_of(key))),
        start=span[0],
        end=span[1],
        cancelled=str(vevent.get("STATUS", "")).upper() == "CANCELLED",
        responses=responses,
    )


def state_digest(state: EventState) -> str:
    """What a reconciler cares about, hashed: times, cancellation, replies."""
    parts = [
        state.start.astimezone(UTC).isoformat(),
        state.end.astimezone(UTC).isoformat(),
        "cancelled" if state.cancelled else "live",
        *sorted(f"{email}={resp.value}" for email, resp in state.responses.items()),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _bump(vevent: icalendar.Event, now: datetime) -> int:
    sequence = int(vevent.get("SEQUENCE", 0)) + 1
    for name in ("SEQUENCE", "DTSTAMP", "LAST-MODIFIED"):
        vevent.pop(name, None)
    vevent.add("SEQUENCE", sequence)
    vevent.add("DTSTAMP", _utc(now))
    vevent.add("LAST-MODIFIED", _utc(now))
    return sequence


def moved(vevent: icalendar.Event, start: datetime, end: datetime, now: datetime) -> None:
    """Reschedule in place: new times, SEQUENCE + 1, replies reset (RFC 5546 3.2.2)."""
    for name in ("DTSTART", "DTEND", "DURATION"):
        vevent.pop(name, None)
    vevent.add("DTSTART", _utc(start))
    vevent.add("DTEND", _utc(end))
    _bump(vevent, now)
    organizer = organizer_email(vevent)
    for attendee in _attendees(vevent):
        if mailto(attendee) != organizer:
            attendee.params["PARTSTAT"] = "NEEDS-ACTION"
            attendee.params["RSVP"] = "TRUE"


def cancelled(vevent: icalendar.Event, now: datetime, comment: str = "") -> None:
    vevent.pop("STATUS", None)
    vevent.add("STATUS", "CANCELLED")
    if comment:
        vevent.pop("COMMENT", None)
        vevent.add("COMMENT", comment)
    _bump(vevent, now)


def set_partstat(vevent: icalendar.Event, email: str, partstat: str) -> bool:
    found = False
    for attendee in _attendees(vevent):
        if mailto(attendee) == email.lower():
            attendee.params["PARTSTAT"] = partstat
            attendee.params.pop("RSVP", None)
            found = True
    return found


def attendee_emails(vevent: icalendar.Component) -> Iterable[str]:
    organizer = organizer_email(vevent)
    return [e for e in (mailto(a) for a in _attendees(vevent)) if e and e != organizer]


def is_same_time(vevent: icalendar.Component, start: datetime, end: datetime) -> bool:
    span = occurrence_span(vevent, UTC)
    return span is not None and span[0] == start and span[1] == end


def attendee_name(vevent: icalendar.Component, email: str) -> str:
    for attendee in _attendees(vevent):
        if mailto(attendee) == email:
            return str(attendee.params.get("CN", ""))
    return ""


def find_session(spans: Sequence[Span], key: str) -> Span | None:
    """The VEVENT block of session `key` (by our tag, else by `<key>@coachpass` UID)."""
    for span in spans:
        if key_of(span.uid, span.tag) == key:
            return span
    return None
