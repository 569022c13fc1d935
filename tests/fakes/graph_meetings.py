"""Teams online meetings of the fake Graph: the JoinWebUrl look-up, attendance
reports and attendance records, with Graph's documented shapes and refusals.

What it models (Microsoft Graph v1.0 documentation):

- `GET /users/{userId}/onlineMeetings?$filter=JoinWebUrl eq '{joinWebUrl}'` answers a
  collection holding the one meeting (empty when no meeting has that link). The
  userId is the organiser's Entra *object id*: a UPN is refused (404), as real Graph
  does for app-only online-meeting calls. Any other `$filter`, or none, is a 400.
- `.../onlineMeetings/{meetingId}/attendanceReports` lists one report per time the
  meeting ended (`attendanceRecords` empty in the list), and
  `.../attendanceReports/{reportId}/attendanceRecords` pages its records with
  `@odata.nextLink`. Records carry emailAddress (null for anonymous and phone
  participants), totalAttendanceInSeconds, role, identity and attendanceIntervals.
- Reports are kept one year from the meeting date (the retention the
  meetingAttendanceReport page names); older ones are no longer listed.
- 403 `Forbidden` "Missing role permissions" when the token's roles lack
  OnlineMeetings.Read.All (look-up) or OnlineMeetingArtifact.Read.All (reports), and
  the documented access-policy refusal ("App ... is not authorized to ... on behalf of
  user ...") for an organiser no application access policy covers.

Meetings are made by events created with `isOnlineMeeting` (graph_state), whose join
URL carries the organiser's object id in its `context`, like Teams links do.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.fakes.graph_event import GraphFault

RETENTION = timedelta(days=365)
LOOKUP_ROLES = {"OnlineMeetings.Read.All", "OnlineMeetings.ReadWrite.All"}
ARTIFACT_ROLES = {"OnlineMeetingArtifact.Read.All"}
_FILTER = re.compile(r"^joinWebUrl eq '((?:[^']|'')*)'$", re.IGNORECASE)
_NO_FILTER = "Filter expression expected - /onlineMeetings?$filter={ParameterName} eq '{id}'."
_NAMESPACE = uuid.UUID("5b1f6a52-8c1e-4d7f-9a43-0e6c2d9b7f10")

#: (email or None, [(join, leave), ...]) as a test writes one participant.
Participant = tuple[str | None, Sequence[tuple[datetime | None, datetime | None]]]


def object_id(mailbox: str) -> str:
    """The mailbox owner's (stable, fake) Entra object id."""
    return str(uuid.uuid5(_NAMESPACE, mailbox.lower()))


def _stamp(value: datetime | None) -> str | None:
    # Graph writes up to seven fractional digits and a Z.
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "3Z"


@dataclass
class FakeReport:
    id: str
    start: datetime
    end: datetime
    records: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "totalParticipantCount": len(self.records),
            "meetingStartDateTime": _stamp(self.start),
            "meetingEndDateTime": _stamp(self.end),
            "attendanceRecords": [],
        }


@dataclass
class FakeMeeting:
    id: str
    organizer: str  # mailbox
    organizer_id: str  # its object id
    join_url: str
    reports: list[FakeReport] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.onlineMeeting",
            "id": self.id,
            "joinWebUrl": self.join_url,
            "participants": {
                "organizer": {
                    "upn": self.organizer,
                    "identity": {"user": {"id": self.organizer_id}},
                }
            },
        }


class MeetingState:
    """Every Teams meeting of the tenant. Not thread-safe: the server holds a lock."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.meetings: dict[str, FakeMeeting] = {}
        self.by_url: dict[str, FakeMeeting] = {}
        #: Organisers (mailboxes) no application access policy covers.
        self.no_policy: set[str] = set()
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._owners: dict[str, str] = {}  # object id -> mailbox

    def new(self, mailbox: str) -> FakeMeeting:
        oid = object_id(mailbox)
        thread = f"19:meeting_{secrets.token_urlsafe(24)}@thread.v2"
        context = quote(f'{{"Tid":"{self.tenant}","Oid":"{oid}"}}', safe="")
        path = quote(thread, safe="")
        url = f"https://teams.microsoft.com/l/meetup-join/{path}/0?context={context}"
        meeting_id = base64.b64encode(f"1*{oid}*0**{thread}".encode()).decode()
        meeting = FakeMeeting(meeting_id, mailbox.lower(), oid, url)
        self.meetings[meeting_id] = meeting
        self.by_url[url] = meeting
        return meeting

    def add_report(
        self, join_url: str, start: datetime, end: datetime, records: Sequence[Participant]
    ) -> FakeReport:
        meeting = self.by_url[join_url]
        report = FakeReport(str(uuid.uuid4()), start, end)
        for n, (email, intervals) in enumerate(records):
            spans = [
                {
                    "joinDateTime": _stamp(join),
                    "leaveDateTime": _stamp(leave),
                    "durationInSeconds": int((leave - join).total_seconds())
                    if join is not None and leave is not None
                    else 0,
                }
                for join, leave in intervals
            ]
            total = sum(s["durationInSeconds"] for s in spans)
            name = email.split("@")[0].title() if email else f"Guest {n + 1}"
            report.records.append(
                {
                    "id": email or f"anonymous-{n}",
                    "emailAddress": email,
                    "totalAttendanceInSeconds": total,
                    "role": "Organizer" if email == meeting.organizer else "Attendee",
                    "identity": {
                        "id": object_id(email) if email else f"anon-{n}",
                        "displayName": name,
                        "tenantId": None,
                    },
                    "attendanceIntervals": spans,
                }
            )
        meeting.reports.append(report)
        return report

    # -- requests ---------------------------------------------------------------

    def serve(
        self,
        method: str,
        user: str,
        tail: list[str],
        q: dict[str, str],
        roles: set[str],
        mailboxes: set[str],
        client_id: str,
    ) -> tuple[list[dict[str, Any]] | dict[str, Any], bool]:
        """(answer, is a collection to page). Raises GraphFault as Graph refuses."""
        if method != "GET":
            raise GraphFault(405, "MethodNotAllowed", f"{method} is not supported here")
        need = LOOKUP_ROLES if len(tail) <= 1 else ARTIFACT_ROLES
        if not roles & need:
            raise GraphFault(
                403,
                "Forbidden",
                "Missing role permissions on the request. API requires one of "
                f"'{', '.join(sorted(need))}'. Roles on the request '{', '.join(sorted(roles))}'.",
            )
        if len(self._owners) != len(mailboxes):  # a tenant of thousands stays fast
            self._owners = {object_id(m): m for m in mailboxes}
        owner = self._owners.get(user.lower())
        if owner is None:
            # An unknown id, or a UPN: app-only online-meeting calls take object ids.
            raise GraphFault(404, "UnknownError", "")
        if owner in self.no_policy:
            raise GraphFault(
                403,
                "Unauthorized",
                f"App {client_id} is not authorized to Get meeting on behalf of user {user}",
            )
        if not tail:
            if "$filter" not in q:
                raise GraphFault(400, "BadRequest", _NO_FILTER)
            m = _FILTER.match(q["$filter"])
            if not m:
                raise GraphFault(400, "BadRequest", f"Invalid filter clause: {q['$filter']}")
            url = m.group(1).replace("''", "'")
            found = self.by_url.get(url)
            hits = [found.to_json()] if found and found.organizer == owner else []
            return {"value": hits}, False
        meeting = self.meetings.get(tail[0])
        if meeting is None or meeting.organizer != owner:
            raise GraphFault(404, "NotFound", "The meeting was not found.")
        kept = [r for r in meeting.reports if self.now() - r.end <= RETENTION]
        names = [t.lower() for t in tail]
        if names[1:] == ["attendancereports"]:
            # "only returns up to 50 of the most recent reports"
            latest = sorted(kept, key=lambda r: r.end, reverse=True)[:50]
            return [r.to_json() for r in latest], True
        if len(names) == 4 and names[1] == "attendancereports" and names[3] == "attendancerecords":
            report = next((r for r in kept if r.id == tail[2]), None)
            if report is None:
                raise GraphFault(404, "NotFound", "The attendance report was not found.")
            return list(report.records), True
        raise GraphFault(400, "BadRequest", f"unsupported onlineMeetings path {'/'.join(tail)}")
