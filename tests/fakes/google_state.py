"""The calendars behind the fake Google Calendar API: events, sync tokens, free/busy.

Pure state with a lock, no HTTP: `google_server` turns requests into calls here and
`ApiError`s into Google-shaped error bodies. The rules copied from the real service
(and relied on by the connector) are:

- event ids are base32hex (a-v, 0-9), 5-1024 chars; anything else is 400 `invalid`;
- inserting an id that exists, *also when the event was deleted*, is 409 `duplicate`;
- deleting marks the event `cancelled` (get still returns it); deleting it again is
  410 `deleted`; an unknown id is 404 `notFound`;
- `list` with `syncToken` returns everything changed since the token, deletions
  included; a token from before `expire_sync_tokens()` is 410 `fullSyncRequired`;
  `syncToken` together with timeMin/timeMax/privateExtendedProperty (and the other
  filters Google names) or with showDeleted=false is 400;
- a listed cancelled event keeps its details only with showDeleted=true and on its
  organiser's calendar; otherwise it is reduced to id and status ("on the organizer's
  calendar, cancelled events continue to expose event details... incremental sync
  requests with showDeleted set to false will not return these details");
- an attendee's reply changes the organiser's copy (and so shows in its sync);
- free/busy of a calendar covers its own events and invitations it has not declined;
  transparent and cancelled events are free; an unknown calendar is reported as a
  per-calendar `notFound` error inside the 200 answer (and `fail_freebusy` scripts
  other per-calendar errors, such as a temporary backendError).
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections import defaultdict
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.google_meet import meeting_code_for
from tests.fakes.google_schema import SchemaViolation, validate
from tests.fakes.google_values import (
    ApiError,
    decode_token,
    encode_token,
    parse_time,
    rfc3339,
    span,
)

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
#: Parameters Google refuses together with syncToken.
NOT_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
MAX_FREEBUSY_CALENDARS = 50


@dataclass
class _Stored:
    event: dict[str, Any]
    seq: int  # global change counter at the last write: drives sync tokens


class CalendarStore:
    """All calendars of one fake Google Workspace domain (calendar id == owner email)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calendars: dict[str, dict[str, _Stored]] = {}
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._epoch = 0
        # attendee email -> {(calendar, event id)}: keeps free/busy cheap for big runs
        self._invited: dict[str, set[tuple[str, str]]] = defaultdict(set)
        # False: list cancelled events as id and status only, which is all Google
        # promises ("deleted events are only guaranteed to have the id field").
        self.keep_cancelled_details = True
        # calendar id (lower) -> reasons its next free/busy answers fail with, in turn
        self._freebusy_faults: dict[str, list[str]] = defaultdict(list)
        # What becomes of a Meet request: "success", "pending" (generated later) or
        # "failure". A pending one turns to success at the `meet_ready_after_reads`-th
        # events.get of that event (None: never).
        self.meet_outcome = "success"
        self.meet_ready_after_reads: int | None = None
        self._meet_pending: dict[tuple[str, str], int | None] = {}

    # -- domain -------------------------------------------------------------------

    def add_calendar(self, calendar_id: str) -> None:
        with self.lock:
            self.calendars.setdefault(calendar_id.lower(), {})

    def _calendar(self, calendar_id: str) -> dict[str, _Stored]:
        try:
            return self.calendars[calendar_id.lower()]
        except KeyError:
            raise ApiError(404, "notFound", "Not Found") from None

    def _bump(self) -> int:
        self._last_seq = next(self._seq)
        return self._last_seq

    def _store(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        stamp = datetime.now(UTC)
        event["updated"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
        event["etag"] = f'"{uuid.uuid4().int % 10**16}"'
        cal = self._calendar(calendar_id)
        cal[event["id"]] = _Stored(event, self._bump())
        for attendee in event.get("attendees", []):
            self._invited[attendee["email"].lower()].add((calendar_id.lower(), event["id"]))
        return deepcopy(event)

    # -- events -------------------------------------------------------------------

    def insert(
        self, calendar_id: str, body: dict[str, Any], params: dict[str, str]
    ) -> dict[str, Any]:
        _validate("Event", body)
        with self.lock:
            cal = self._calendar(calendar_id)
            event_id = body.get("id") or uuid.uuid4().hex[:26]
            if not EVENT_ID.match(event_id):
                raise ApiError(400, "invalid", "Invalid resource id value.")
            if event_id in cal:
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
            event = deepcopy(body)
            event.update(
                kind="calendar#event",
                id=event_id,
                status=body.get("status", "confirmed"),
                created=rfc3339(datetime.now(UTC)),
                iCalUID=f"{event_id}@google.com",
                sequence=0,
                organizer={"email": calendar_id.lower(), "self": True},
                creator={"email": calendar_id.lower(), "self": True},
                htmlLink=f"https://calendar.google.com/event?eid={event_id}",
            )
            _check_times(event)
            for attendee in event.get("attendees", []):
                attendee.setdefault("responseStatus", "needsAction")
            self._conference(event, params)
            if _meet_code(event) == "pending":
                self._meet_pending[(calendar_id.lower(), event_id)] = self.meet_ready_after_reads
            if params.get("supportsAttachments") != "true":
                event.pop("attachments", None)
            return self._store(calendar_id, event)

    def _conference(self, event: dict[str, Any], params: dict[str, str]) -> None:
        data = event.get("conferenceData")
        if params.get("conferenceDataVersion") != "1":
            # Google ignores conference data unless the client declares version 1.
            event.pop("conferenceData", None)
            return
        if not data or "createRequest" not in data:
            return
        request = data["createRequest"]
        if self.meet_outcome != "success":
            # No link yet (pending) or none at all (failure): no entry points.
            event["conferenceData"] = {
                "createRequest": {**request, "status": {"statusCode": self.meet_outcome}}
            }
            event.pop("hangoutLink", None)
            return
        self._meet_link(event, request)

    @staticmethod
    def _meet_link(event: dict[str, Any], request: dict[str, Any]) -> None:
        uri = "https://meet.google.com/" + meeting_code_for(request.get("requestId", ""))
        event["conferenceData"] = {
            "createRequest": {**request, "status": {"statusCode": "success"}},
            "entryPoints": [{"entryPointType": "video", "uri": uri, "label": uri[8:]}],
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "conferenceId": uri.rsplit("/", 1)[1],
        }
        event["hangoutLink"] = uri

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        with self.lock:
            stored = self._calendar(calendar_id).get(event_id)
            if stored is None:
                raise ApiError(404, "notFound", "Not Found")
            self._meet_progress(calendar_id, event_id, stored)
            # get returns deleted events too, with status "cancelled".
            return deepcopy(stored.event)

    def _meet_progress(self, calendar_id: str, event_id: str, stored: _Stored) -> None:
        """A read of an event whose Meet link is pending: count it, and when the link
        is due, store it as Google would once it has generated it."""
        where = (calendar_id.lower(), event_id)
        if where not in self._meet_pending:
            return
        left = self._meet_pending[where]
        if left is None:
            return
        if left > 1:
            self._meet_pending[where] = left - 1
            return
        del self._meet_pending[where]
        event = deepcopy(stored.event)
        self._meet_link(event, event["conferenceData"]["createRequest"])
        self._store(calendar_id, event)
        stored.event = self._calendar(calendar_id)[event_id].event

    def patch(
        self,
        calendar_id: str,
        event_id: str,
        body: dict[str, Any],
        params: dict[str, str],
        *,
        replace: bool = False,
    ) -> dict[str, Any]:
        _validate("Event", body)
        with self.lock:
            stored = self._calendar(calendar_id).get(event_id)
            if stored is None:
                raise ApiError(404, "notFound", "Not Found")
            if "id" in body and body["id"] != event_id:
                raise ApiError(400, "invalid", "The event id cannot be changed.")
            old = stored.event
            keep = {k: old[k] for k in ("kind", "id", "created", "iCalUID", "organizer", "creator")}
            event = {**keep, **deepcopy(body)} if replace else {**deepcopy(old), **deepcopy(body)}
            event.setdefault("status", "confirmed")
            event["sequence"] = old.get("sequence", 0) + 1
            _check_times(event)
            if "conferenceData" in body:
                self._conference(event, params)
            return self._store(calendar_id, event)

    def delete(self, calendar_id: str, event_id: str) -> None:
        with self.lock:
            stored = self._calendar(calendar_id).get(event_id)
            if stored is None:
                raise ApiError(404, "notFound", "Not Found")
            if stored.event.get("status") == "cancelled":
                raise ApiError(410, "deleted", "Resource has been deleted")
            event = deepcopy(stored.event)
            event["status"] = "cancelled"
            self._store(calendar_id, event)

    def list_events(self, calendar_id: str, params: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in params.items()}
        max_results = min(int(one.get("maxResults", "250")), 2500)
        with self.lock:
            cal = self._calendar(calendar_id)
            page = decode_token(one["pageToken"]) if "pageToken" in one else None
            if "syncToken" in one:
                clash = [p for p in NOT_WITH_SYNC_TOKEN if p in params]
                if one.get("showDeleted") == "false":
                    clash.append("showDeleted=false")
                if clash:
                    raise ApiError(
                        400, "invalid", f"Sync token cannot be used with {', '.join(clash)}."
                    )
                token = decode_token(one["syncToken"])
                if token.get("epoch") != self._epoch or token.get("cal") != calendar_id.lower():
                    raise ApiError(
                        410,
                        "fullSyncRequired",
                        "Sync token is no longer valid, a full sync is required.",
                    )
                upto = page["upto"] if page else self._last_seq
                since = token["seq"]
                chosen = [s for s in cal.values() if since < s.seq <= upto]
                deleted_visible = True
            else:
                upto = page["upto"] if page else self._last_seq
                chosen = [s for s in cal.values() if s.seq <= upto]
                chosen = _filter_window(chosen, one.get("timeMin"), one.get("timeMax"))
                for prop in params.get("privateExtendedProperty", []):
                    name, _, value = prop.partition("=")
                    chosen = [
                        s
                        for s in chosen
                        if s.event.get("extendedProperties", {}).get("private", {}).get(name)
                        == value
                    ]
                deleted_visible = one.get("showDeleted") == "true"
            details = one.get("showDeleted") == "true" and self.keep_cancelled_details
            if not deleted_visible:
                chosen = [s for s in chosen if s.event.get("status") != "cancelled"]
            chosen.sort(key=lambda s: s.event["id"])
            after = page["after"] if page else ""
            rest = [s for s in chosen if s.event["id"] > after]
            items = rest[:max_results]
            answer: dict[str, Any] = {
                "kind": "calendar#events",
                "summary": calendar_id,
                "items": [_listed(s.event, calendar_id, details) for s in items],
            }
            if len(rest) > max_results:
                answer["nextPageToken"] = encode_token(
                    {"after": items[-1].event["id"], "upto": upto}
                )
            elif not any(p in params for p in ("privateExtendedProperty", "q", "iCalUID")):
                answer["nextSyncToken"] = encode_token(
                    {"cal": calendar_id.lower(), "epoch": self._epoch, "seq": upto}
                )
            return answer

    # -- free/busy ----------------------------------------------------------------

    def freebusy(self, body: dict[str, Any], max_days: float) -> dict[str, Any]:
        _validate("FreeBusyRequest", body)
        if "timeMin" not in body or "timeMax" not in body:
            raise ApiError(400, "required", "Missing timeMin or timeMax.")
        start, end = parse_time(body["timeMin"]), parse_time(body["timeMax"])
        if end <= start:
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
        if end - start > timedelta(days=max_days):
            raise ApiError(400, "timeRangeTooLong", "The requested time range is too long.")
        items = body.get("items", [])
        if len(items) > MAX_FREEBUSY_CALENDARS:
            raise ApiError(400, "tooManyCalendarsRequested", "Too many calendars requested.")
        calendars: dict[str, Any] = {}
        with self.lock:
            for item in items:
                cal_id = item["id"]
                faults = self._freebusy_faults.get(cal_id.lower())
                if faults:
                    calendars[cal_id] = {
                        "errors": [{"domain": "global", "reason": faults.pop(0)}],
                        "busy": [],
                    }
                    continue
                if cal_id.lower() not in self.calendars:
                    calendars[cal_id] = {
                        "errors": [{"domain": "global", "reason": "notFound"}],
                        "busy": [],
                    }
                    continue
                calendars[cal_id] = {"busy": self._busy(cal_id.lower(), start, end)}
        return {
            "kind": "calendar#freeBusy",
            "timeMin": rfc3339(start),
            "timeMax": rfc3339(end),
            "calendars": calendars,
        }

    def _busy(self, cal_id: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        spans: list[tuple[datetime, datetime]] = []
        candidates = [(cal_id, s.event) for s in self.calendars[cal_id].values()]
        for owner, event_id in self._invited.get(cal_id, ()):
            event = self.calendars[owner][event_id].event
            me = [a for a in event.get("attendees", []) if a["email"].lower() == cal_id]
            if me and me[0].get("responseStatus") != "declined" and owner != cal_id:
                candidates.append((owner, event))
        for _owner, event in candidates:
            if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
                continue
            s, e = span(event)
            if s < end and e > start:
                spans.append((max(s, start), min(e, end)))
        spans.sort()
        merged: list[list[datetime]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [{"start": rfc3339(s), "end": rfc3339(e)} for s, e in merged]

    # -- test controls (what people do in their own calendar clients) -------------

    def put(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Store an event as given (id generated when missing), bypassing the API."""
        with self.lock:
            self.add_calendar(calendar_id)
            event = deepcopy(event)
            event.setdefault("id", uuid.uuid4().hex[:26])
            event.setdefault("status", "confirmed")
            event.setdefault("kind", "calendar#event")
            return self._store(calendar_id, event)

    def respond(self, calendar_id: str, event_id: str, email: str, status: str) -> None:
        with self.lock:
            stored = self._calendar(calendar_id)[event_id]
            event = deepcopy(stored.event)
            hits = [a for a in event.get("attendees", []) if a["email"].lower() == email.lower()]
            if not hits:
                raise KeyError(f"{email} is not invited to {event_id}")
            hits[0]["responseStatus"] = status
            self._store(calendar_id, event)

    def move(self, calendar_id: str, event_id: str, start: datetime, end: datetime) -> None:
        with self.lock:
            event = deepcopy(self._calendar(calendar_id)[event_id].event)
            event["start"] = {"dateTime": start.isoformat()}
            event["end"] = {"dateTime": end.isoformat()}
            event["sequence"] = event.get("sequence", 0) + 1
            self._store(calendar_id, event)

    def fail_freebusy(self, calendar_id: str, *reasons: str) -> None:
        """The next free/busy answers for this calendar carry an error with each
        reason in turn (e.g. "backendError") inside the 200 answer, as Google does."""
        with self.lock:
            self._freebusy_faults[calendar_id.lower()].extend(reasons)

    def organizer_of_meeting(self, meeting_code: str) -> str:
        """The calendar (owner) whose event carries the Meet link with this code."""
        with self.lock:
            for calendar_id, events in self.calendars.items():
                for stored in events.values():
                    if stored.event.get("conferenceData", {}).get("conferenceId") == meeting_code:
                        return calendar_id
        raise KeyError(f"no event carries the Meet code {meeting_code}")

    def expire_sync_tokens(self) -> None:
        with self.lock:
            self._epoch += 1

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [deepcopy(s.event) for s in self._calendar(calendar_id).values()]


def _validate(schema: str, body: Any) -> None:
    try:
        validate(schema, body)
    except SchemaViolation as exc:
        raise ApiError(400, "invalid", str(exc)) from None


def _meet_code(event: dict[str, Any]) -> str | None:
    status = event.get("conferenceData", {}).get("createRequest", {}).get("status", {})
    return status.get("statusCode") if isinstance(status, dict) else None


def _check_times(event: dict[str, Any]) -> None:
    start, end = span(event)
    if end < start:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")


def _filter_window(
    chosen: list[_Stored], time_min: str | None, time_max: str | None
) -> list[_Stored]:
    low = parse_time(time_min) if time_min else None
    high = parse_time(time_max) if time_max else None
    out = []
    for stored in chosen:
        if "start" not in stored.event:
            continue
        s, e = span(stored.event)
        if (low is None or e > low) and (high is None or s < high):
            out.append(stored)
    return out


def _listed(event: dict[str, Any], calendar_id: str, details: bool) -> dict[str, Any]:
    organizer = str(event.get("organizer", {}).get("email", calendar_id)).lower()
    if event.get("status") == "cancelled" and not (details and organizer == calendar_id.lower()):
        # "Deleted events are only guaranteed to have the id field populated."
        return {
            "kind": "calendar#event",
            "etag": event["etag"],
            "id": event["id"],
            "status": "cancelled",
        }
    return deepcopy(event)
