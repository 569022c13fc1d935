"""Who was in a session's Meet call, and when: Google Meet REST API v2, read faithfully.

For one session, read as its organiser (the owner of the Meet space):

1. the meeting code: from the invitation's link when the caller has it, else from
   the event's conferenceData (`events.get` by the session key, which is the id);
2. `conferenceRecords.list` filtered on that code and on a start near the session
   (every page): each record is one call held in the space (a call everybody left
   and rejoined later is a second record);
3. `participants.list` of each record (every page), and for each signed-in
   participant who is one of the people asked about, `participantSessions.list`:
   a participant's earliest start / latest end would hide a rejoin, the sessions do
   not (one join..leave each);
4. people are matched by their Google user id (`signedinUser.user` = "users/{id}"),
   looked up once per e-mail with the Admin SDK Directory `users.get` and kept for
   the connector's life. Anonymous and phone participants are nobody: they cannot
   be matched, so they never count as the manager or the seller.

Status: records found -> MET with presence (PENDING while a call is still going);
none, and the session ended less than the provider's delay ago -> PENDING; none
later -> NOT_HELD; none when Meet has deleted them (30 days after the conference
ended) -> EXPIRED, decided by the session's end since the API then simply returns
nothing; a link that is not Meet's -> NO_MEETING. Anything that could not be read
(refused, throttled past the retries) is an error for that session only, never
"nobody came".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from googleapiclient.discovery import build

from connectors.base import Attendance, AttendanceStatus, MeetingQuery, Presence
from connectors.google.auth import DIRECTORY_SCOPE, MEET_SCOPE
from connectors.google.batch import Backoff, execute
from connectors.google.wire import ApiFailure, rfc3339, valid_event_id, video_url_of

#: Meet deletes a conference record this long after the conference ended.
RETENTION = timedelta(days=30)
#: A Meet call lasts at most 24 hours: past the session's end + RETENTION + this,
#: no record of it can remain, and nothing is asked.
LONGEST_CALL = timedelta(hours=24)
#: Calls that began this long before the booked start still count: people join early.
EARLY_JOIN = timedelta(hours=1)
#: The largest pages the API serves (it may serve fewer).
RECORDS_PAGE, PARTICIPANTS_PAGE, SESSIONS_PAGE = 100, 250, 250
#: Meet's meeting codes: abc-mnop-xyz, in the path of the join link.
_MEET_LINK = re.compile(r"^https?://meet\.google\.com/([a-z]{3}-[a-z]{4}-[a-z]{3})(?:[/?#]|$)")


def meeting_code(url: str | None) -> str | None:
    """The meeting code of a Meet join link; None for any other link."""
    match = _MEET_LINK.match((url or "").strip().lower())
    return match.group(1) if match else None


def records_filter(code: str, start: datetime, end: datetime) -> str:
    """The documented filter: this space's calls that began around the session."""
    low, high = rfc3339(start - EARLY_JOIN), rfc3339(end)
    return f'space.meeting_code = "{code}" AND start_time>="{low}" AND start_time<="{high}"'


def parse_timestamp(value: str) -> datetime:
    """A protobuf Timestamp as JSON (RFC 3339, Z, up to nanoseconds) as aware UTC."""
    text = value.strip().replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:  # Python takes at most microseconds: cut the fraction to six digits
        digits = re.match(r"\d*", rest)
        fraction = digits.group(0) if digits else ""
        text = f"{head}.{fraction[:6].ljust(6, '0')}{rest[len(fraction) :]}"
    return datetime.fromisoformat(text).astimezone(UTC)


class Unanswered(Exception):
    """This session's attendance could not be told; the message says why and the fix."""


class ScopeRefused(Unanswered):
    """The token may not read Meet at all (the scope is not granted): the same for
    every session of this organiser, so the others are not asked."""


#: Reasons of a refusal for the token's scopes, not for one meeting.
SCOPE_REASONS = frozenset({"ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions"})


@dataclass(frozen=True)
class MeetResources:
    records: Any  # meet v2 conferenceRecords() resource
    participants: Any  # conferenceRecords().participants()
    sessions: Any  # conferenceRecords().participants().participantSessions()
    users: Any  # admin directory_v1 users() resource
    events: Any  # calendar v3 events() resource

    @classmethod
    def build(
        cls, transport: Any, meet_root: str, directory_root: str, events: Any
    ) -> MeetResources:
        """From the discovery documents shipped with the library: no network call."""
        meet, directory = (
            build(
                name,
                version,
                http=transport,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": root},
            )
            for name, version, root in (
                ("meet", "v2", meet_root),
                ("admin", "directory_v1", directory_root),
            )
        )
        records = meet.conferenceRecords()
        participants = records.participants()
        return cls(
            records, participants, participants.participantSessions(), directory.users(), events
        )


@dataclass(frozen=True)
class MeetReader:
    api: MeetResources
    backoff: Backoff
    now: datetime
    delay: timedelta  # how long after a session Meet may still be writing its records
    who: Callable[[str], str]  # the identity reading as this organiser, for messages
    grant: Callable[[str], str]  # how to grant a scope, for messages
    user_ids: dict[str, str | None] = field(default_factory=dict)  # e-mail -> id (cache)

    def read(self, query: MeetingQuery, http: Any) -> Attendance:
        """The attendance of one session; raises Unanswered when it cannot be told."""
        if self.now < query.end:
            return self._answer(query, AttendanceStatus.PENDING, "the session has not ended yet")
        if query.video_url and meeting_code(query.video_url) is None:
            link = query.video_url
            return self._answer(
                query, AttendanceStatus.NO_MEETING, f"the invitation's link {link} is not Meet's"
            )
        if self.now > query.end + RETENTION + LONGEST_CALL:
            return self._expired(query)
        code, where = self._code(query, http)
        if code is None:
            return self._answer(query, AttendanceStatus.NO_MEETING, where)
        records = list(self._records(query, code, http))
        if not records:
            return self._no_record(query, code)
        running = [r["name"] for r in records if not r.get("endTime")]
        if running:
            return self._answer(
                query,
                AttendanceStatus.PENDING,
                f"the Meet call {', '.join(running)} of {code} is still going on",
            )
        return self._met(query, code, records, http)

    # -- the meeting --------------------------------------------------------------

    def _code(self, query: MeetingQuery, http: Any) -> tuple[str | None, str]:
        """The meeting code, or None and why there is no Meet meeting."""
        if query.video_url:
            return meeting_code(query.video_url), ""
        event_id = query.event_id or query.key
        if not valid_event_id(event_id):
            raise Unanswered(f"session {query.key} has no Meet link and no Google event id")
        call = partial(
            self.api.events.get, calendarId=query.organizer.calendar_id, eventId=event_id
        )
        item = execute(call, http, self.backoff)
        if isinstance(item, ApiFailure):
            raise Unanswered(
                f"Google could not read the event of session {query.key} in the calendar "
                f"of {_person(query)}: {item.describe()}"
            )
        data = item.get("conferenceData") or {}
        solution = data.get("conferenceSolution", {}).get("key", {}).get("type")
        code = meeting_code(video_url_of(item))
        if code is None and solution == "hangoutsMeet":
            code = meeting_code(f"https://meet.google.com/{data.get('conferenceId', '')}")
        return code, "" if code else "the event has no Google Meet conference"

    def _records(self, query: MeetingQuery, code: str, http: Any) -> Iterator[dict[str, Any]]:
        text = records_filter(code, query.start, query.end)
        for page in self._pages(
            partial(self.api.records.list, filter=text, pageSize=RECORDS_PAGE), http
        ):
            if isinstance(page, ApiFailure):
                if page.status == 401 or page.reason in SCOPE_REASONS:
                    # Said once for the organiser's sessions: no session key in it.
                    raise ScopeRefused(self._refused(query, "Meet records", page, MEET_SCOPE, ""))
                raise Unanswered(self._refused(query, "Meet conference records", page, MEET_SCOPE))
            yield from page.get("conferenceRecords", [])

    def _pages(self, request: Callable[..., Any], http: Any) -> Iterator[Any]:
        """Every page of a list call (the token passed by hand, as for events.list);
        a failure is yielded once and ends the listing."""
        token: str | None = None
        while True:
            call = partial(request, **({"pageToken": token} if token else {}))
            answer = execute(call, http, self.backoff)
            yield answer
            if isinstance(answer, ApiFailure):
                return
            token = answer.get("nextPageToken")
            if not token:
                return

    # -- the people ---------------------------------------------------------------

    def _met(
        self, query: MeetingQuery, code: str, records: Sequence[Mapping[str, Any]], http: Any
    ) -> Attendance:
        wanted = self._wanted(query, http)  # "users/{id}" -> e-mail
        presence: dict[str, list[tuple[datetime, datetime]]] = {}
        seen = matched = nobody = 0
        for record in records:
            parent = str(record["name"])
            request = partial(self.api.participants.list, parent=parent, pageSize=PARTICIPANTS_PAGE)
            for page in self._pages(request, http):
                if isinstance(page, ApiFailure):
                    raise Unanswered(self._refused(query, "Meet participants", page, MEET_SCOPE))
                for participant in page.get("participants", []):
                    seen += 1
                    user = participant.get("signedinUser", {}).get("user")
                    if not user:
                        nobody += 1  # anonymous or phone: cannot be anyone we asked about
                        continue
                    email = wanted.get(str(user))
                    if email is None:
                        continue
                    matched += 1
                    spans = presence.setdefault(email, [])
                    spans.extend(self._sessions(query, str(participant["name"]), http))
        names = ", ".join(str(r["name"]) for r in records)
        detail = (
            f"Meet {code}: {len(records)} call(s) ({names}), {seen} participant(s), "
            f"{matched} of them asked about"
        )
        if nobody:
            detail += f", {nobody} not signed in (anonymous or phone: cannot be matched)"
        unknown = sorted(a.email.lower() for a in query.people if not self._known(a.email))
        if unknown:
            detail += f"; not in the Google directory, so never matched: {', '.join(unknown)}"
        return Attendance(
            query.key,
            AttendanceStatus.MET,
            {email: tuple(sorted(spans)) for email, spans in presence.items() if spans},
            detail,
        )

    def _sessions(self, query: MeetingQuery, participant: str, http: Any) -> Presence:
        spans: list[tuple[datetime, datetime]] = []
        request = partial(self.api.sessions.list, parent=participant, pageSize=SESSIONS_PAGE)
        for page in self._pages(request, http):
            if isinstance(page, ApiFailure):
                raise Unanswered(
                    self._refused(query, "Meet participant sessions", page, MEET_SCOPE)
                )
            for one in page.get("participantSessions", []):
                if one.get("startTime") and one.get("endTime"):
                    spans.append(
                        (parse_timestamp(one["startTime"]), parse_timestamp(one["endTime"]))
                    )
        return tuple(spans)

    def _known(self, email: str) -> bool:
        return self.user_ids.get(email.lower()) is not None

    def _wanted(self, query: MeetingQuery, http: Any) -> dict[str, str]:
        """ "users/{id}" -> e-mail for the people asked about; each e-mail is looked up
        once per connector (Directory users.get, the public view any user may read)."""
        out: dict[str, str] = {}
        for person in query.people:
            email = person.email.lower()
            if email not in self.user_ids:
                call = partial(self.api.users.get, userKey=email, viewType="domain_public")
                answer = execute(call, http, self.backoff)
                if isinstance(answer, ApiFailure):
                    if answer.status != 404:
                        raise Unanswered(
                            self._refused(
                                query, f"the directory entry of {email}", answer, DIRECTORY_SCOPE
                            )
                        )
                    self.user_ids[email] = None  # not in the domain: nobody to match
                else:
                    self.user_ids[email] = str(answer["id"])
            found = self.user_ids[email]
            if found is not None:
                out[f"users/{found}"] = email
        return out

    # -- answers ------------------------------------------------------------------

    def _no_record(self, query: MeetingQuery, code: str) -> Attendance:
        if self.now > query.end + RETENTION:
            return self._expired(query)
        if self.now < query.end + self.delay:
            ready = (query.end + self.delay).astimezone(UTC)
            return self._answer(
                query,
                AttendanceStatus.PENDING,
                f"no Meet call of {code} yet; Meet may still report it until "
                f"{ready:%Y-%m-%d %H:%M} UTC",
            )
        return self._answer(
            query,
            AttendanceStatus.NOT_HELD,
            f"nobody joined the Meet call {code} around the session",
        )

    def _expired(self, query: MeetingQuery) -> Attendance:
        ended = query.end.astimezone(UTC)
        return self._answer(
            query,
            AttendanceStatus.EXPIRED,
            f"Meet deletes conference records 30 days after the call ends and the API then "
            f"returns nothing; the session ended {ended:%Y-%m-%d %H:%M} UTC, so this is decided "
            "by its end time (read attendance within days of a session)",
        )

    @staticmethod
    def _answer(query: MeetingQuery, status: AttendanceStatus, detail: str) -> Attendance:
        return Attendance(query.key, status, detail=detail)

    def _refused(
        self,
        query: MeetingQuery,
        what: str,
        failure: ApiFailure,
        scope: str,
        session: str | None = None,
    ) -> str:
        which = f" for session {query.key}" if session is None else session
        text = (
            f"Google could not read {what}{which} as "
            f"{self.who(query.organizer.email)}: {failure.describe()}"
        )
        if failure.status in (401, 403) and not failure.retryable:
            text += f"; {self.grant(scope)}"
        return text


def _person(query: MeetingQuery) -> str:
    return f"{query.organizer.person_id} <{query.organizer.email}>"
