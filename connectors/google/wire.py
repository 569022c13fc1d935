"""Google Calendar request bodies and answers <-> Coachpass value types (no I/O).

Kept apart from the HTTP code so every mapping (event body, free/busy answer, event
state, error classification) is a plain function that tests call directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html import escape
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from connectors.base import SESSION_TAG, Busy, CalendarRef, EventState, NewEvent, Response
from connectors.base import with_link as fill_link

#: Google event ids: base32hex characters, 5 to 1024 of them.
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
#: freebusy.query takes at most this many calendars per request.
FREEBUSY_MAX_CALENDARS = 50
#: Google does not document the longest free/busy window; 8 weeks is accepted in
#: practice, and a month's planning window always fits in one request.
FREEBUSY_MAX_DAYS = 56
#: Retried: throttling (429, 403 rate limits) and server faults.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_403_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
#: Per-calendar free/busy errors (inside a 200 answer) that a later ask may not
#: repeat; notFound and the like are final.
FREEBUSY_TEMPORARY_REASONS = frozenset({"internalError", "backendError"})
#: Popup 10 minutes before, email the day before: the agenda arrives ahead of time.
REMINDERS: dict[str, Any] = {
    "useDefault": False,
    "overrides": [{"method": "popup", "minutes": 10}, {"method": "email", "minutes": 1440}],
}

T = TypeVar("T")


def valid_event_id(key: str) -> bool:
    return bool(EVENT_ID.match(key))


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(part: Mapping[str, Any], fallback_zone: str = "UTC") -> datetime:
    """An EventDateTime as an aware datetime (all-day dates start at local midnight)."""
    if "dateTime" in part:
        value = datetime.fromisoformat(str(part["dateTime"]).replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(part.get("timeZone") or fallback_zone))
        return value
    day = datetime.fromisoformat(str(part["date"]))
    return day.replace(tzinfo=ZoneInfo(part.get("timeZone") or fallback_zone))


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def windows(
    start: datetime, end: datetime, max_days: float = FREEBUSY_MAX_DAYS
) -> list[tuple[datetime, datetime]]:
    """Split [start, end) into consecutive pieces no longer than `max_days`."""
    out: list[tuple[datetime, datetime]] = []
    step = timedelta(days=max_days)
    cursor = start
    while cursor < end:
        out.append((cursor, min(cursor + step, end)))
        cursor += step
    return out


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


def description(event: NewEvent, guideline_url: str | None) -> str:
    """The agenda, with the guidelines always linked in the text (Google descriptions
    take simple HTML; the plain-text agenda is escaped and kept line by line)."""
    if event.description_html:
        body = event.description_html
        link = (
            f'<p><a href="{escape(guideline_url)}">Coaching guidelines</a></p>'
            if guideline_url and guideline_url not in body
            else ""
        )
    else:
        body = escape(event.description_text).replace("\n", "<br>")
        link = (
            f'<br><br>Coaching guidelines: <a href="{escape(guideline_url)}">'
            f"{escape(guideline_url)}</a>"
            if guideline_url and guideline_url not in event.description_text
            else ""
        )
    video = ""
    if not event.online_meeting and event.video_url and event.video_url not in body:
        video = video_html(event.video_url)
    return body + link + video


def video_html(url: str) -> str:
    """The fallback video link as appended to a description."""
    return f'<br><br>Video: <a href="{escape(url)}">{escape(url)}</a>'


def event_body(event: NewEvent, guideline_url: str | None = None) -> dict[str, Any]:
    """The events.insert body: our id, agenda, tag, Meet request, reminders, guide link."""
    url = event.guideline_url or guideline_url
    zone = event.organizer.timezone
    # With Meet the link is known only from the answer, and Google shows it in the
    # invitation itself: the agenda's link mark says so (`no_link_text`).
    event = fill_link(event, None if event.online_meeting else event.video_url)
    body: dict[str, Any] = {
        "id": event.key,
        "summary": event.summary,
        "description": description(event, url),
        "start": {"dateTime": event.start.isoformat(), "timeZone": zone},
        "end": {"dateTime": event.end.isoformat(), "timeZone": zone},
        "attendees": [
            {"email": a.email, **({"displayName": a.name} if a.name else {})}
            for a in event.attendees
        ],
        "extendedProperties": {"private": {SESSION_TAG: event.key}},
        "reminders": REMINDERS,
        "guestsCanModify": False,
    }
    if event.location:
        body["location"] = event.location
    elif not event.online_meeting and event.video_url:
        body["location"] = event.video_url
    if event.online_meeting:
        body["conferenceData"] = {
            # requestId makes the Meet request itself idempotent across retries.
            "createRequest": {
                "requestId": event.key,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        }
    if url:
        # Google attaches Drive files by link only; other URLs stay in the text.
        body["attachments"] = [{"fileUrl": url, "title": "Coaching guidelines"}]
    return body


def move_body(start: datetime, end: datetime, zone: str) -> dict[str, Any]:
    return {
        "start": {"dateTime": start.isoformat(), "timeZone": zone},
        "end": {"dateTime": end.isoformat(), "timeZone": zone},
    }


def tag_of(item: Mapping[str, Any]) -> str | None:
    value = item.get("extendedProperties", {}).get("private", {}).get(SESSION_TAG)
    return str(value) if value else None


def video_url_of(item: Mapping[str, Any]) -> str | None:
    for entry in item.get("conferenceData", {}).get("entryPoints", []):
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return str(entry["uri"])
    link = item.get("hangoutLink")
    return str(link) if link else None


RESPONSES = {
    "accepted": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentative": Response.TENTATIVE,
    "needsAction": Response.NEEDS_ACTION,
}


def is_skinny(item: Mapping[str, Any]) -> bool:
    """A deleted event reduced to little more than id and status. With showDeleted
    the organiser's calendar keeps the details of cancelled events: one with its
    details but no tag is someone else's, not a skinny one of ours."""
    return item.get("status") == "cancelled" and "start" not in item


def event_state(item: Mapping[str, Any], zone: str = "UTC") -> EventState | None:
    """Our event as an EventState; None for events without our tag."""
    key = tag_of(item)
    if key is None or "start" not in item or "end" not in item:
        return None
    responses = {
        str(a["email"]).lower(): RESPONSES.get(a.get("responseStatus", ""), Response.NEEDS_ACTION)
        for a in item.get("attendees", [])
        if a.get("email") and not a.get("organizer")
    }
    return EventState(
        key=key,
        event_id=str(item["id"]),
        start=parse_time(item["start"], zone),
        end=parse_time(item["end"], zone),
        cancelled=item.get("status") == "cancelled",
        responses=responses,
    )


# ---------------------------------------------------------------------------
# Free/busy
# ---------------------------------------------------------------------------


def freebusy_body(
    calendars: Sequence[CalendarRef], start: datetime, end: datetime
) -> dict[str, Any]:
    return {
        "timeMin": rfc3339(start),
        "timeMax": rfc3339(end),
        "items": [{"id": c.calendar_id} for c in calendars],
    }


def read_freebusy(
    answer: Mapping[str, Any], calendars: Sequence[CalendarRef]
) -> tuple[dict[str, list[Busy]], dict[str, str]]:
    """Busy intervals per person, and an error per person whose calendar Google could
    not read: such a person is unknown, never free."""
    intervals: dict[str, list[Busy]] = {}
    errors: dict[str, str] = {}
    for ref, entry in _entries(answer, calendars):
        if entry is None:
            errors[ref.person_id] = (
                f"Google returned no free/busy for {ref.person_id} <{ref.email}> "
                f"(calendar {ref.calendar_id})"
            )
            continue
        if entry.get("errors"):
            reasons = _reasons(entry)
            fix = (
                "a fault at Google that outlasted the retries; the next run asks again"
                if reasons <= FREEBUSY_TEMPORARY_REASONS
                else "check the calendar id in the config and that the account Coachpass "
                "uses may see its free/busy"
            )
            errors[ref.person_id] = (
                f"Google could not read the calendar of {ref.person_id} <{ref.email}> "
                f"(calendar {ref.calendar_id}): {', '.join(sorted(reasons))}; {fix}"
            )
            continue
        intervals[ref.person_id] = [
            Busy(parse_time({"dateTime": b["start"]}), parse_time({"dateTime": b["end"]}))
            for b in entry.get("busy", [])
        ]
    return intervals, errors


def temporary_failures(
    answer: Mapping[str, Any], calendars: Sequence[CalendarRef]
) -> list[CalendarRef]:
    """The calendars whose free/busy failed only for temporary reasons (internal or
    backend error at Google): worth asking again."""
    return [
        ref
        for ref, entry in _entries(answer, calendars)
        if entry is not None
        and entry.get("errors")
        and _reasons(entry) <= FREEBUSY_TEMPORARY_REASONS
    ]


def _entries(
    answer: Mapping[str, Any], calendars: Sequence[CalendarRef]
) -> Iterator[tuple[CalendarRef, Mapping[str, Any] | None]]:
    """Each calendar with its entry in a free/busy answer (ids matched ignoring case)."""
    found: Mapping[str, Any] = answer.get("calendars", {})
    lowered = {k.lower(): v for k, v in found.items()}
    for ref in calendars:
        yield ref, found.get(ref.calendar_id) or lowered.get(ref.calendar_id.lower())


def _reasons(entry: Mapping[str, Any]) -> set[str]:
    return {str(e.get("reason", "unknown")) for e in entry.get("errors", [])}


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiFailure:
    """One failed call: HTTP status (0 for a transport error), Google's reason."""

    status: int
    reason: str
    message: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return (
            self.status == 0
            or self.status in RETRY_STATUSES
            or (self.status == 403 and self.reason in RETRY_403_REASONS)
        )

    def describe(self) -> str:
        if self.status == 0:
            return f"connection problem: {self.message}"
        return f"HTTP {self.status} {self.reason}: {self.message}"


def failure_from(status: int, content: bytes | str | None, retry_after: str | None) -> ApiFailure:
    """Classify an error answer from its JSON body (`error.errors[0].reason`)."""
    reason, message = "", ""
    try:
        data = json.loads(content or b"{}")
        error = data.get("error", {}) if isinstance(data, dict) else {}
        if isinstance(error, dict):
            message = str(error.get("message", ""))
            details = error.get("errors") or [{}]
            reason = str(details[0].get("reason", ""))
            if not reason:
                # The newer APIs (Meet v2): an ErrorInfo detail, else the code name.
                info = [d for d in error.get("details") or [] if isinstance(d, dict)]
                reason = next((str(d["reason"]) for d in info if d.get("reason")), "")
                reason = reason or str(error.get("status", ""))
        else:  # OAuth-style {"error": "invalid_grant"}
            reason = str(error)
    except (ValueError, AttributeError, IndexError):
        message = str(content or "")[:200]
    return ApiFailure(status, reason or "unknown", message or "no details", _seconds(retry_after))


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the other form: an HTTP date
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
