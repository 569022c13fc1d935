"""Microsoft 365 calendars through Microsoft Graph v1.0 (registry name `outlook`).

Options (connector settings in the config; secrets only by env var or file):

- `tenant_id` (required): the directory's GUID or primary domain.
- `client_id` (required): the app registration's application id.
- `client_secret_env` / `client_secret_file`: the app's client secret, for the
  service (client credentials, application permission Calendars.ReadWrite, and
  Mail.Send for reports). Or instead:
- `certificate_file` + `certificate_thumbprint`: a PEM file holding the private key
  (and certificate) uploaded to the app registration, and its SHA-1 thumbprint.
- `token_cache_file`: where `coachpass auth outlook` (device code sign-in of an admin,
  delegated permissions) keeps its token cache, mode 0600. Used when no secret or
  certificate is configured.
- `authority_host` (default https://login.microsoftonline.com),
  `graph_endpoint` (default https://graph.microsoft.com/v1.0): national clouds.
- `scope` (default `<graph host>/.default`): the token scope, when it is not the
  Graph endpoint's host (a gateway in front of Graph).
- `proxy` (e.g. http://proxy.example:3128), `ca_bundle` (PEM file of CAs to trust):
  proxy and CA environment variables are ignored (see `session.http_client`).
- `max_attempts` (default 6), `backoff_seconds` (default 1.0), `timeout_seconds`
  (default 30): retries of throttled or failed calls.
- `online_meeting_provider` (default teamsForBusiness; empty for none): the native
  meeting link asked for when the policy wants one.
- `attendance_delay_hours` (default 24): how long after a session's end a missing
  Teams attendance report may still come (PENDING until then, NOT_HELD after);
  `attendance_retention_days` (default 365): how long Graph keeps the reports
  (EXPIRED after). Attendance needs the application permissions
  OnlineMeetings.Read.All and OnlineMeetingArtifact.Read.All plus an application
  access policy for the organisers.

Relative paths are resolved against the config's folder. `CalendarRef.calendar_id` is
the mailbox's UPN or SMTP address. How requests are spent: busy = one getSchedule per
20 people and 40 days (several go in one `$batch`), all asked through the first
calendar's mailbox; create = one `$batch` of tag look-ups, one of creates, and for
sessions with an agenda file one of attachments and one of attendee PATCHes (20 parts
each, across organisers when `create` gets several teams' sessions at once; see
`create` for why the attendees come last); a reconcile with no change = one
delta request per organiser, a first (full) read one `$batch` of the first delta
and calendarView pages (the view after the delta) plus any further pages;
attendance = per step (event link when the invite's is not known, meeting by
JoinWebUrl, its reports, the session's records and their pages) one `$batch` part
per session; re-pushing a half-done session adds one listing of its
attachments. Pieces (in this package): auth (msal), http (retries, paging,
`$batch` with per-mailbox lanes), session, events (JSON mapping), create
(create, then invite), attach (the agenda files, never twice), failure (failed
requests as Results), delta (changes and cursors), attendance + meetings (Teams
attendance reports),
admin (`auth outlook`, `connectors check outlook`; it imports this module, never the
other way round).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from connectors.base import (
    AttendanceAnswer,
    CalendarRef,
    ChangeAction,
    ChangeSet,
    ConnectorContext,
    ConnectorError,
    EventChange,
    EventState,
    FreeBusy,
    Lookup,
    MeetingQuery,
    NewEvent,
    Outcome,
    Result,
    in_order,
)
from connectors.outlook.attendance import AttendanceSettings, TeamsAttendance
from connectors.outlook.create import Creator, failed
from connectors.outlook.delta import DeltaReader
from connectors.outlook.events import (
    event_state,
    graph_time,
    prop_filter,
    schedule_busy,
    split_window,
    user_path,
)
from connectors.outlook.http import Answer, Part
from connectors.outlook.session import open_graph_session

SCHEDULE_LIMIT = 20
# What `create` needs to finish an event found by its tag: whether the file, the
# attendees and a video link (native, or the fallback in the body) are on it.
LOOKUP_FIELDS = "id,hasAttachments,onlineMeeting,attendees,body"
# What reconcile needs to settle a session found by its tag (see `lookup`).
STATE_FIELDS = "id,start,end,isCancelled,attendees"
INTERVAL_MINUTES = 15


class OutlookConnector:
    name = "outlook"
    # Makes Teams links itself: booking renders the agenda with the link mark.
    native_meetings = True

    def __init__(
        self,
        options: Mapping[str, Any],
        context: ConnectorContext,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.options = dict(options)
        session = open_graph_session(options, context, transport=transport, sleep=sleep, rng=rng)
        self._client, self.tokens, self.graph = session.client, session.tokens, session.graph
        provider = options.get("online_meeting_provider", "teamsForBusiness")
        self.online_provider: str | None = str(provider) if provider else None
        self.delta = DeltaReader(self.graph, self._run)
        self.creator = Creator(self.graph, self._run, self._lookup, self.online_provider)
        self.teams = TeamsAttendance(
            self.graph,
            self._run,
            clock or context.clock or (lambda: datetime.now(UTC)),
            AttendanceSettings.from_options(options),
        )

    def close(self) -> None:
        self._client.close()

    # -- busy -------------------------------------------------------------------------

    def busy(self, calendars: Sequence[CalendarRef], start: datetime, end: datetime) -> FreeBusy:
        if not calendars:
            return FreeBusy({})
        owners: dict[str, list[CalendarRef]] = {}
        for ref in calendars:
            owners.setdefault(ref.calendar_id.lower(), []).append(ref)
        mailboxes = list(owners)
        groups = [
            mailboxes[i : i + SCHEDULE_LIMIT] for i in range(0, len(mailboxes), SCHEDULE_LIMIT)
        ]
        windows = split_window(start, end)
        # Every group is asked through the first calendar's mailbox (the organiser's
        # when booking): asked through a mailbox of its own, one refused mailbox
        # (deleted user, outside the app's access policy) failed its whole group.
        caller = calendars[0].calendar_id
        bodies = [
            {
                "schedules": group,
                "startTime": graph_time(w_start),
                "endTime": graph_time(w_end),
                "availabilityViewInterval": INTERVAL_MINUTES,
            }
            for group in groups
            for w_start, w_end in windows
        ]
        parts = [self._schedule_part(str(n), caller, body) for n, body in enumerate(bodies)]
        answers = self._run(parts)
        # The caller itself refused: ask those groups through one of their own
        # mailboxes, so only a mailbox that is really out of reach ends in error.
        again = []
        for n, part in enumerate(parts):
            other = next((b for b in part.body["schedules"] if b != caller.lower()), None)
            if answers[part.id].status in (403, 404) and other is not None:
                parts[n] = self._schedule_part(part.id, owners[other][0].calendar_id, part.body)
                again.append(parts[n])
        answers.update(self._run(again))
        intervals: dict[str, list[Any]] = {r.person_id: [] for r in calendars}
        errors: dict[str, str] = {}
        for part in parts:
            answer = answers[part.id]
            w_start = datetime.fromisoformat(part.body["startTime"]["dateTime"]).replace(tzinfo=UTC)
            if not answer.ok:
                for box in part.body["schedules"]:
                    for ref in owners[box]:
                        errors[ref.person_id] = (
                            f"free/busy of {ref.email} ({ref.person_id}) could not be read "
                            f"through mailbox {part.mailbox}: {answer.error_text()}"
                        )
                continue
            seen = set()
            for item in (answer.body or {}).get("value", []):
                box = str(item.get("scheduleId", "")).lower()
                seen.add(box)
                for ref in owners.get(box, []):
                    if item.get("error"):
                        err = item["error"]
                        errors[ref.person_id] = (
                            f"free/busy of {ref.email} ({ref.person_id}) could not be read: "
                            f"{err.get('responseCode', '')} {err.get('message', '')}".strip()
                        )
                    else:
                        intervals[ref.person_id].extend(
                            schedule_busy(item, w_start, INTERVAL_MINUTES)
                        )
            for box in set(part.body["schedules"]) - seen:
                for ref in owners[box]:
                    errors[ref.person_id] = (
                        f"free/busy of {ref.email} ({ref.person_id}): Graph gave no answer"
                    )
        out = {
            person: tuple(sorted(set(items), key=lambda b: (b.start, b.end)))
            for person, items in intervals.items()
            if person not in errors
        }
        return FreeBusy(out, errors)

    @staticmethod
    def _schedule_part(part_id: str, caller: str, body: Mapping[str, Any]) -> Part:
        url = f"{user_path(caller)}/calendar/getSchedule"
        return Part(part_id, "POST", url, caller.lower(), body)

    def _run(self, parts: Sequence[Part]) -> dict[str, Answer]:
        """One part: a plain call (no batch envelope); more: `$batch`."""
        if len(parts) == 1:
            p = parts[0]
            return {p.id: self.graph.call(p.method, p.url, p.body, idempotent=p.idempotent)}
        return self.graph.batch(parts) if parts else {}

    # -- look-ups by tag ----------------------------------------------------------------

    def _lookup(
        self, items: Sequence[tuple[str, str]], fields: str = LOOKUP_FIELDS
    ) -> dict[str, Answer]:
        """(mailbox, key) -> the answer of a `$filter` on our tag, by key."""
        parts = []
        for box, key in items:
            query = urlencode(
                {"$filter": prop_filter(key), "$select": fields},
                quote_via=quote,
            )
            parts.append(Part(key, "GET", f"{user_path(box)}/events?{query}", box.lower()))
        return self._run(parts)

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        """Teams attendance reports of the sessions' meetings (attendance.py)."""
        return self.teams.read(queries)

    def lookup(self, organizer: CalendarRef, keys: Sequence[str]) -> Lookup:
        """Sessions by their single-value tag, whatever their time (the filter is not
        bound to a window). A deleted event leaves the calendar for Deleted Items,
        where the filter no longer finds it (an empty answer: gone); a cancelled
        one still found is gone too. A failed query is an error for that key."""
        unique = list(dict.fromkeys(keys))
        box = organizer.calendar_id
        try:
            answers = self._lookup([(box, k) for k in unique], STATE_FIELDS)
        except ConnectorError as exc:
            return Lookup({}, {k: f"cannot look up session {k} of {box}: {exc}" for k in unique})
        found: dict[str, EventState | None] = {}
        errors: dict[str, str] = {}
        for key in unique:
            answer = answers[key]
            if not answer.ok:
                errors[key] = f"cannot look up session {key} of {box}: {answer.error_text()}"
                continue
            items = [i for i in (answer.body or {}).get("value", []) if not i.get("isCancelled")]
            found[key] = event_state(items[0], key) if items else None
        return Lookup(found, errors)

    # -- create -----------------------------------------------------------------------

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        return self.creator.create(events)

    # -- update -----------------------------------------------------------------------

    def update(self, changes: Sequence[EventChange]) -> list[Result]:
        results: dict[str, Result] = {}
        ids: dict[str, str] = {}
        unknown = [c for c in changes if not c.event_id]
        found = self._lookup([(c.organizer.calendar_id, c.key) for c in unknown])
        for change in changes:
            if change.event_id:
                ids[change.key] = change.event_id
                continue
            answer = found[change.key]
            if not answer.ok:
                results[change.key] = failed(change, "look-up", answer)
                continue
            existing = (answer.body or {}).get("value", [])
            if existing:
                ids[change.key] = str(existing[0]["id"])
            else:
                results[change.key] = Result(change.key, Outcome.GONE)
        todo = [c for c in changes if c.key in ids and c.key not in results]
        parts = [self._change_part(c, ids[c.key]) for c in todo]
        answers = self._run(parts)
        fallback: list[Part] = []
        for change in todo:
            answer = answers[change.key]
            if answer.ok:
                done = Outcome.UPDATED if change.action is ChangeAction.MOVE else Outcome.CANCELLED
                results[change.key] = Result(change.key, done, event_id=ids[change.key])
            elif answer.status in (404, 410):
                results[change.key] = Result(change.key, Outcome.GONE, event_id=ids[change.key])
            elif change.action is ChangeAction.CANCEL and answer.status == 400:
                # Graph refuses `cancel` on an event without attendees: delete it instead.
                box = change.organizer.calendar_id
                url = f"{user_path(box)}/events/{quote(ids[change.key], safe='')}"
                fallback.append(Part(change.key, "DELETE", url, box.lower()))
            else:
                results[change.key] = failed(change, change.action.value, answer)
        deleted = self._run(fallback)
        for part in fallback:
            answer = deleted[part.id]
            change = next(c for c in todo if c.key == part.id)
            if answer.ok or answer.status in (404, 410):
                outcome = Outcome.CANCELLED if answer.ok else Outcome.GONE
                results[part.id] = Result(part.id, outcome, event_id=ids[part.id])
            else:
                results[part.id] = failed(change, "delete", answer)
        return in_order([c.key for c in changes], results)

    def _change_part(self, change: EventChange, event_id: str) -> Part:
        box = change.organizer.calendar_id
        url = f"{user_path(box)}/events/{quote(event_id, safe='')}"
        if change.action is ChangeAction.MOVE:
            assert change.start is not None and change.end is not None
            body = {"start": graph_time(change.start), "end": graph_time(change.end)}
            return Part(change.key, "PATCH", url, box.lower(), body)
        return Part(change.key, "POST", url + "/cancel", box.lower(), {"comment": change.comment})

    # -- changes ----------------------------------------------------------------------

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        return self.delta.changes(organizer, cursor, start, end)


# -- entry points -------------------------------------------------------------------------


def open_connector(options: Mapping[str, Any], context: ConnectorContext) -> OutlookConnector:
    return OutlookConnector(options, context)
