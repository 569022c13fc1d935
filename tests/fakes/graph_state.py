"""The calendars behind the fake Microsoft Graph: mailboxes, events, delta state.

Pure state and operations, no HTTP: `graph_server` routes requests here. It models
what the Outlook connector relies on, the way Graph documents it:

- an organiser's event lives in the organiser's mailbox; attendees see it in their
  free/busy until they decline it (Outlook removes declined meetings);
- extended properties are stored but only returned when `$expand`ed;
- cancelling a meeting moves it to Deleted Items: it vanishes from lists, GETs 404,
  and delta reports it as `@removed`;
- a repeated `transactionId` is *not* deduplicated by default (Graph leaves it
  undocumented, so the fake takes the worst case and the connector must cope);
- each attendee is *sent* the meeting as it stands when they are added (create with
  attendees, or a PATCH adding them) and an update when the organiser changes it
  (PATCH); a file added to the event alone reaches nobody. `sent` records it all;
- an event created with `isOnlineMeeting` gets a Teams meeting (graph_meetings)
  whose join URL maps back to it: attendance is read from there;
- `teams_allowed = False` makes a create asking for Teams answer 201 without a
  meeting (isOnlineMeeting false, provider "unknown"), as Graph does when Teams is
  not among the mailbox's allowed online-meeting providers.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.graph_event import FakeEvent, GraphFault, graph_time, parse_graph_time
from tests.fakes.graph_meetings import MeetingState

__all__ = ["CalendarState", "DeltaState", "FakeEvent", "GraphFault", "parse_graph_time"]

AVAILABILITY_CODE = {
    "free": "0",
    "tentative": "1",
    "busy": "2",
    "oof": "3",
    "workingElsewhere": "4",
}


@dataclass
class DeltaState:
    mailbox: str
    start: datetime
    end: datetime
    seq: int  # changes with a version above this are news
    epoch: int
    pending: list[dict[str, Any]] = field(default_factory=list)  # rest of a paged answer


class CalendarState:
    """All mailboxes of one fake tenant. Not thread-safe: the server holds a lock."""

    def __init__(
        self, mailboxes: list[str], *, transaction_dedup: bool = False, tenant: str = ""
    ) -> None:
        self.mailboxes = {m.lower() for m in mailboxes}
        self.meetings = MeetingState(tenant)  # Teams meetings of isOnlineMeeting events
        self.denied: set[str] = set()  # mailboxes outside the app's RBAC scope
        self.events: dict[str, FakeEvent] = {}
        # Indexes, so a benchmark tenant of thousands of mailboxes stays fast.
        self.by_box: dict[str, dict[str, FakeEvent]] = {}
        self.invited: dict[str, dict[str, FakeEvent]] = {}  # attendee -> events
        self.transaction_dedup = transaction_dedup
        self.teams_allowed = True
        self.sent: dict[str, list[dict[str, Any]]] = {}  # attendee -> what they received
        self._seq = itertools.count(1)
        self.seq = 0
        self.epoch = 0
        self.delta_states: dict[str, DeltaState] = {}

    # -- helpers ----------------------------------------------------------------

    def _bump(self, event: FakeEvent) -> None:
        self.seq = next(self._seq)
        event.version = self.seq

    def mailbox(self, user: str) -> str:
        user = user.lower()
        if user not in self.mailboxes:
            raise GraphFault(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if user in self.denied:
            raise GraphFault(403, "ErrorAccessDenied", "Access is denied. Check credentials.")
        return user

    def get(self, user: str, event_id: str) -> FakeEvent:
        box = self.mailbox(user)
        event = self.events.get(event_id)
        if event is None or event.deleted or event.mailbox != box:
            raise GraphFault(404, "ErrorItemNotFound", "The specified object was not found.")
        return event

    def live(self, box: str) -> list[FakeEvent]:
        return sorted(
            (e for e in self.by_box.get(box, {}).values() if not e.deleted),
            key=lambda e: (e.start, e.id),
        )

    # -- events -----------------------------------------------------------------

    def create(self, user: str, body: dict[str, Any]) -> FakeEvent:
        box = self.mailbox(user)
        if "attachments" in body:
            # Graph ignores attachments in the create body (they are added afterwards
            # with POST .../attachments); refuse them so a connector cannot rely on it.
            raise GraphFault(400, "ErrorInvalidRequest", "attachments cannot be created inline")
        txid = body.get("transactionId")
        if self.transaction_dedup and txid:
            for e in self.by_box.get(box, {}).values():
                if e.transaction_id == txid:
                    return e
        try:
            start, end = parse_graph_time(body["start"]), parse_graph_time(body["end"])
        except (KeyError, ValueError) as exc:
            raise GraphFault(400, "ErrorInvalidRequest", f"bad start/end: {exc}") from None
        if end < start:
            raise GraphFault(400, "ErrorInvalidRequest", "end before start")
        event = FakeEvent(
            id="AAMk" + secrets.token_urlsafe(24),
            mailbox=box,
            subject=body.get("subject", ""),
            start=start,
            end=end,
            body=body.get("body", {}),
            show_as=body.get("showAs", "busy"),
            is_all_day=bool(body.get("isAllDay", False)),
            transaction_id=txid,
            location=body.get("location", {}),
        )
        event.attendees = [self._attendee(a) for a in body.get("attendees", [])]
        for prop in body.get("singleValueExtendedProperties", []):
            event.ext_props[prop["id"]] = prop["value"]
        if body.get("isOnlineMeeting") and self.teams_allowed:
            event.online_provider = body.get("onlineMeetingProvider", "teamsForBusiness")
            event.join_url = self.meetings.new(box).join_url
        self.events[event.id] = event
        self.by_box.setdefault(box, {})[event.id] = event
        self._invite(event, event.attendees)
        self._bump(event)
        return event

    def _invite(self, event: FakeEvent, attendees: list[dict[str, Any]]) -> None:
        for a in attendees:
            email = a["emailAddress"]["address"].lower()
            self.invited.setdefault(email, {})[event.id] = event
            self.sent.setdefault(email, []).append(event.message("invitation"))

    def _attendee(self, a: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": a.get("type", "required"),
            "emailAddress": dict(a["emailAddress"]),
            "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
        }

    def add_attachment(self, user: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        import base64

        event = self.get(user, event_id)
        if body.get("@odata.type") != "#microsoft.graph.fileAttachment":
            raise GraphFault(400, "ErrorInvalidRequest", "only fileAttachment is supported")
        data = base64.b64decode(body.get("contentBytes", ""))
        if len(data) >= 3 * 1024 * 1024:
            raise GraphFault(413, "ErrorRequestEntityTooLarge", "attachment of 3 MB or more")
        att = {
            "id": "AAMkAtt" + secrets.token_hex(6),
            "name": body.get("name", ""),
            "contentType": body.get("contentType", ""),
            "size": len(data),
        }
        event.attachments.append({**att, "contentBytes": body.get("contentBytes", "")})
        self._bump(event)
        return {"@odata.type": "#microsoft.graph.fileAttachment", **att}

    def patch(self, user: str, event_id: str, body: dict[str, Any]) -> FakeEvent:
        event = self.get(user, event_id)
        if "start" in body:
            event.start = parse_graph_time(body["start"])
        if "end" in body:
            event.end = parse_graph_time(body["end"])
        if "subject" in body:
            event.subject = body["subject"]
        if "body" in body:
            event.body = body["body"]
        if "location" in body:
            event.location = body["location"] or {}
        kept, added = list(event.attendees), []
        if "attendees" in body:
            # A PATCH replaces the list: who stays keeps their reply, who is new is
            # invited, who is left out is dropped (their cancellation is not modelled).
            new = {a["emailAddress"]["address"].lower(): a for a in body["attendees"]}
            kept = [a for a in event.attendees if a["emailAddress"]["address"].lower() in new]
            known = {a["emailAddress"]["address"].lower() for a in kept}
            added = [self._attendee(a) for e, a in new.items() if e not in known]
            event.attendees = kept + added
        changed = any(k in body for k in ("start", "end", "subject", "body", "location"))
        if changed:
            for a in kept:
                email = a["emailAddress"]["address"].lower()
                self.sent.setdefault(email, []).append(event.message("update"))
        self._invite(event, added)
        self._bump(event)
        return event

    def cancel(self, user: str, event_id: str) -> None:
        event = self.get(user, event_id)
        if not event.attendees:
            raise GraphFault(
                400, "ErrorInvalidRequest", "Your request can't be completed. No attendees."
            )
        self.remove(event)

    def delete(self, user: str, event_id: str) -> None:
        self.remove(self.get(user, event_id))

    def remove(self, event: FakeEvent) -> None:
        # Moved to Deleted Items: gone from the calendar and from every view.
        event.deleted = True
        self._bump(event)

    def find_by_prop(self, user: str, prop_id: str, value: str) -> list[FakeEvent]:
        box = self.mailbox(user)
        return [
            e
            for e in self.live(box)
            if any(k.lower() == prop_id.lower() and v == value for k, v in e.ext_props.items())
        ]

    # -- free/busy --------------------------------------------------------------

    def schedule(
        self, who: str, start: datetime, end: datetime, interval_minutes: int
    ) -> dict[str, Any]:
        who = who.lower()
        if who not in self.mailboxes:
            return {
                "scheduleId": who,
                "error": {
                    "message": f"The user '{who}' could not be found.",
                    "responseCode": "ErrorMailRecipientNotFound",
                },
            }
        items: list[FakeEvent] = []
        mine = self.by_box.get(who, {})
        for e in [*mine.values(), *self.invited.get(who, {}).values()]:
            if e.deleted or e.is_cancelled or not e.overlaps(start, end):
                continue
            if e.mailbox == who:
                items.append(e)
                continue
            a = e.attendee(who)
            if a is not None and a["status"]["response"] != "declined":
                items.append(e)
        items = [e for e in items if e.show_as != "free"]
        items.sort(key=lambda e: e.start)
        view = []
        slot = start
        step = timedelta(minutes=interval_minutes)
        rank = {"0": 0, "4": 1, "1": 2, "2": 3, "3": 4}
        while slot < end:
            code = "0"
            for e in items:
                if e.overlaps(slot, slot + step):
                    c = AVAILABILITY_CODE.get(e.show_as, "2")
                    if rank[c] > rank[code]:
                        code = c
            view.append(code)
            slot += step
        return {
            "scheduleId": who,
            "availabilityView": "".join(view),
            "scheduleItems": [
                {
                    "isPrivate": False,
                    "status": e.show_as,
                    "subject": e.subject,
                    "location": e.location.get("displayName", ""),
                    "start": graph_time(e.start),
                    "end": graph_time(e.end),
                }
                for e in items
            ],
            "workingHours": {},
        }

    # -- delta ------------------------------------------------------------------

    def delta_start(self, user: str, start: datetime, end: datetime) -> tuple[str, DeltaState]:
        box = self.mailbox(user)
        state = DeltaState(box, start, end, self.seq, self.epoch)
        state.pending = [e.to_json() for e in self.live(box) if e.overlaps(start, end)]
        token = secrets.token_urlsafe(16)
        self.delta_states[token] = state
        return token, state

    def delta_resume(self, token: str) -> DeltaState:
        state = self.delta_states.get(token)
        if state is None or state.epoch != self.epoch:
            raise GraphFault(410, "SyncStateNotFound", "The sync state is not found or expired.")
        return state

    def delta_changes(self, token: str) -> tuple[str, DeltaState]:
        """A delta token's news: a new state holding the changed events."""
        old = self.delta_resume(token)
        state = DeltaState(old.mailbox, old.start, old.end, self.seq, self.epoch)
        for e in self.by_box.get(old.mailbox, {}).values():
            if e.version <= old.seq:
                continue
            if e.deleted or not e.overlaps(old.start, old.end):
                state.pending.append({"id": e.id, "@removed": {"reason": "deleted"}})
            else:
                state.pending.append(e.to_json())
        new_token = secrets.token_urlsafe(16)
        self.delta_states[new_token] = state
        return new_token, state

    # -- what people do in their own clients (test controls) --------------------

    def respond(self, event: FakeEvent, email: str, response: str) -> None:
        a = event.attendee(email)
        if a is None:
            raise KeyError(f"{email} is not invited to {event.id}")
        a["status"] = {"response": response, "time": datetime.now(UTC).isoformat()}
        self._bump(event)

    def move(self, event: FakeEvent, start: datetime, end: datetime) -> None:
        event.start, event.end = start.astimezone(UTC), end.astimezone(UTC)
        self._bump(event)

    def expire_tokens(self) -> None:
        self.epoch += 1
