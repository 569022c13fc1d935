"""Graph JSON in and out, without I/O: event bodies, free/busy and event states.

Kept apart from the connector so the mapping can be tested on plain dicts.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import (
    SESSION_TAG,
    Attachment,
    Busy,
    BusyKind,
    EventState,
    NewEvent,
    Response,
)
from connectors.base import (
    with_link as fill_link,
)

#: The single-value extended property carrying the session key on every event we
#: create. The GUID is Coachpass's own property set; it must never change, or events
#: booked before the change could no longer be found.
PROPERTY_ID = f"String {{9c2b4f7e-3d1a-4e8b-a6f2-5c0d7e9b1a34}} Name {SESSION_TAG}"
ATTACHMENT_LIMIT = 3 * 1024 * 1024  # Graph: fileAttachment under 3 MB

_STATUS = {  # keys lower case: compared case-insensitively ("Busy", "OOF" are seen)
    "busy": BusyKind.BUSY,
    "tentative": BusyKind.TENTATIVE,
    "oof": BusyKind.OOF,
    # workingElsewhere (a "working from home" marker) and free are not busy: Outlook's
    # own scheduling assistant books over them, and a coaching session can be remote.
}
_AVAILABILITY = {"1": BusyKind.TENTATIVE, "2": BusyKind.BUSY, "3": BusyKind.OOF}
_RESPONSE = {
    "accepted": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentativelyAccepted": Response.TENTATIVE,
    "none": Response.NEEDS_ACTION,
    "notResponded": Response.NEEDS_ACTION,
}


def user_path(mailbox: str) -> str:
    return f"/users/{quote(mailbox, safe='@')}"


def prop_filter(key: str) -> str:
    return (
        f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROPERTY_ID}' and ep/value eq '{key}')"
    )


def prop_expand() -> str:
    return f"singleValueExtendedProperties($filter=id eq '{PROPERTY_ID}')"


def graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def parse_time(value: Mapping[str, Any]) -> datetime:
    """A dateTimeTimeZone. We ask for UTC; an IANA zone is accepted too."""
    text = str(value["dateTime"]).rstrip("Z")
    if "." in text:  # Graph writes 7 fractional digits, Python reads at most 6
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    naive = datetime.fromisoformat(text).replace(tzinfo=None)
    zone_name = str(value.get("timeZone") or "UTC")
    if zone_name in ("UTC", "Etc/UTC", "tzone://Microsoft/Utc"):
        return naive.replace(tzinfo=UTC)
    try:
        return naive.replace(tzinfo=ZoneInfo(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Graph answered in time zone {zone_name!r}, not UTC") from None


def wants_online(event: NewEvent, online_provider: str | None) -> bool:
    return event.online_meeting and bool(online_provider)


def body_content(event: NewEvent, *, with_link: bool) -> str:
    content = event.description_html or (
        "<p>" + html.escape(event.description_text).replace("\n", "<br>") + "</p>"
    )
    if with_link and event.video_url:
        link = html.escape(event.video_url)
        content += f'<p><a href="{link}">{link}</a></p>'
    return content


def agenda_html(event: NewEvent, link: str | None) -> str:
    """The body carrying `link` exactly once: an agenda rendered with the link mark
    gets it filled in; one rendered without gets the fallback appended (the native
    link is shown by Outlook itself)."""
    if event.link_mark:
        return body_content(fill_link(event, link), with_link=False)
    return body_content(event, with_link=link is not None and link == event.video_url)


def attendees_json(event: NewEvent) -> list[dict[str, Any]]:
    return [
        {"emailAddress": {"address": a.email, "name": a.name or a.email}, "type": "required"}
        for a in event.attendees
    ]


def event_body(event: NewEvent, online_provider: str | None, *, invite: bool) -> dict[str, Any]:
    """The POST /events body. Attachments are added afterwards (Graph does not take
    them inline on events); `invite=False` leaves the attendees out, so the one
    invitation can go out once the file is on the event."""
    use_online = wants_online(event, online_provider)
    # A native link is known only from the answer: the attendee PATCH brings it.
    link = None if use_online else event.video_url
    body: dict[str, Any] = {
        "subject": event.summary,
        "body": {"contentType": "HTML", "content": agenda_html(event, link)},
        "start": graph_time(event.start),
        "end": graph_time(event.end),
        "attendees": attendees_json(event) if invite else [],
        "transactionId": event.key,
        "singleValueExtendedProperties": [{"id": PROPERTY_ID, "value": event.key}],
        "allowNewTimeProposals": True,
        "showAs": "busy",
    }
    location = event.location or ("" if use_online else (event.video_url or ""))
    if location:
        body["location"] = {"displayName": location}
    if use_online:
        body["isOnlineMeeting"] = True
        body["onlineMeetingProvider"] = online_provider
    return body


def fallback_fields(event: NewEvent) -> dict[str, Any]:
    """PATCH fields putting the fallback video link in an invite whose native meeting
    was not created (Teams not allowed for the mailbox, say)."""
    assert event.video_url
    return {
        "body": {"contentType": "HTML", "content": agenda_html(event, event.video_url)},
        "location": {"displayName": event.location or event.video_url},
    }


def link_in_invite(
    event: NewEvent, item: Mapping[str, Any], online_provider: str | None
) -> str | None:
    """The video link the invite `item` really carries: the native join URL, else
    the fallback when it is in the body (always, unless a native one was asked)."""
    native = join_url(item)
    if native or not event.video_url:
        return native
    if not wants_online(event, online_provider):
        return event.video_url
    content = str((item.get("body") or {}).get("content", ""))
    return event.video_url if html.escape(event.video_url) in content else None


def attachment_body(att: Attachment) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": att.filename,
        "contentType": att.mime_type,
        "contentBytes": base64.b64encode(att.data).decode("ascii"),
    }


def join_url(item: Mapping[str, Any]) -> str | None:
    meeting = item.get("onlineMeeting") or {}
    url = meeting.get("joinUrl") if isinstance(meeting, Mapping) else None
    return str(url) if url else None


def key_of(item: Mapping[str, Any]) -> str | None:
    for prop in item.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() == PROPERTY_ID.lower():
            return str(prop.get("value"))
    return None


def event_state(item: Mapping[str, Any], key: str) -> EventState:
    responses: dict[str, Response] = {}
    for a in item.get("attendees") or []:
        email = str((a.get("emailAddress") or {}).get("address", "")).lower()
        reply = str((a.get("status") or {}).get("response", "none"))
        if email and reply in _RESPONSE:
            responses[email] = _RESPONSE[reply]
    return EventState(
        key=key,
        event_id=str(item["id"]),
        start=parse_time(item["start"]),
        end=parse_time(item["end"]),
        cancelled=bool(item.get("isCancelled", False)),
        responses=responses,
    )


def schedule_busy(item: Mapping[str, Any], start: datetime, interval: int) -> tuple[Busy, ...]:
    """One getSchedule answer -> busy intervals (scheduleItems, else availabilityView)."""
    items = item.get("scheduleItems")
    out: list[Busy] = []
    if items is not None:
        for s in items:
            kind = _STATUS.get(str(s.get("status", "")).lower())
            if kind is not None:
                out.append(Busy(parse_time(s["start"]), parse_time(s["end"]), kind))
        return tuple(out)
    view = str(item.get("availabilityView") or "")
    step = timedelta(minutes=interval)
    for i, code in enumerate(view):
        kind = _AVAILABILITY.get(code)
        if kind is None:
            continue
        s = start + i * step
        if out and out[-1].kind is kind and out[-1].end == s:
            out[-1] = Busy(out[-1].start, s + step, kind)
        else:
            out.append(Busy(s, s + step, kind))
    return tuple(out)


def split_window(start: datetime, end: datetime, days: int = 40) -> list[tuple[datetime, datetime]]:
    """getSchedule windows. Graph's documented limit is 62 days, but Exchange answers
    have also cited its 42-day TimeWindow limit; 40 days stays clear of both and fits
    booking's window in one: a month and the days around it that cover every zone
    (34 days). At 31 days that window took two getSchedule parts per 20 people."""
    out = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + timedelta(days=days))
        out.append((cursor, stop))
        cursor = stop
    return out
