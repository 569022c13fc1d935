"""One event of the fake Microsoft Graph, its JSON, and the fake's error answer.

Split from graph_state (the calendars and their operations) to keep both small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class GraphFault(Exception):
    """An error answer: status, Graph error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def parse_graph_time(value: dict[str, Any] | str) -> datetime:
    """dateTimeTimeZone (only UTC accepted here) or an ISO string -> aware UTC."""
    if isinstance(value, dict):
        if value.get("timeZone", "UTC") not in ("UTC", "Etc/UTC"):
            raise GraphFault(400, "ErrorInvalidRequest", "the fake accepts UTC times only")
        value = str(value["dateTime"])
    text = value.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def graph_time(value: datetime) -> dict[str, str]:
    # Graph writes seven fractional digits and no offset; the zone is a separate field.
    return {
        "dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
        "timeZone": "UTC",
    }


@dataclass
class FakeEvent:
    id: str
    mailbox: str
    subject: str
    start: datetime
    end: datetime
    body: dict[str, Any] = field(default_factory=dict)
    attendees: list[dict[str, Any]] = field(default_factory=list)
    show_as: str = "busy"
    is_all_day: bool = False
    transaction_id: str | None = None
    ext_props: dict[str, str] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    online_provider: str | None = None
    join_url: str | None = None
    location: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    deleted: bool = False
    is_cancelled: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def message(self, kind: str) -> dict[str, Any]:
        """What an attendee receives now: the meeting as it stands, with its files."""
        return {
            "kind": kind,
            "event_id": self.id,
            "subject": self.subject,
            "start": self.start,
            "body": str(self.body.get("content", "")),
            "location": str(self.location.get("displayName", "")),
            "join_url": self.join_url,
            "attachments": [a["name"] for a in self.attachments],
        }

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and self.end > start

    def attendee(self, email: str) -> dict[str, Any] | None:
        for a in self.attendees:
            if a["emailAddress"]["address"].lower() == email.lower():
                return a
        return None

    def to_json(self, expand_prop: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "subject": self.subject,
            "body": self.body,
            "start": graph_time(self.start),
            "end": graph_time(self.end),
            "isAllDay": self.is_all_day,
            "showAs": self.show_as,
            "isCancelled": self.is_cancelled,
            "isOrganizer": True,
            "organizer": {"emailAddress": {"address": self.mailbox}},
            "attendees": [dict(a) for a in self.attendees],
            "transactionId": self.transaction_id,
            "location": self.location,
            "hasAttachments": bool(self.attachments),
            "isOnlineMeeting": self.online_provider is not None,
            "onlineMeetingProvider": self.online_provider or "unknown",
            "onlineMeeting": {"joinUrl": self.join_url} if self.join_url else None,
            "createdDateTime": self.created.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "changeKey": f"ck{self.version}",
        }
        if expand_prop is not None:
            props = [
                {"id": pid, "value": val}
                for pid, val in self.ext_props.items()
                if pid.lower() == expand_prop.lower()
            ]
            if props:
                out["singleValueExtendedProperties"] = props
        return out
