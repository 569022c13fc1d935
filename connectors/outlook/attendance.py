"""Teams attendance of booked sessions, read from Microsoft Graph with application
permissions. It reports what Graph says; the rule (N minutes together) is not here.

For each session: its Teams join link (the invitation's `video_url`, else the
event's `onlineMeeting.joinUrl`), the meeting with that link
(`/users/{organiser}/onlineMeetings?$filter=JoinWebUrl eq '...'`, needs
OnlineMeetings.Read.All), the meeting's attendance reports (one per time it ran) and
the records of the reports overlapping the session (OnlineMeetingArtifact.Read.All),
every `@odata.nextLink` page. All of these need an application access policy covering
the organiser. Each step is one request per session, all sessions' requests of a step
in `$batch`es (four lanes per mailbox, 429 `Retry-After` honoured: http.py).

Statuses: a report -> MET; the session not over, or over less than `delay` ago with
no report yet -> PENDING (Teams makes the report after the meeting ends); none later
-> NOT_HELD; none and older than `retention` -> EXPIRED (Graph documents a one-year
retention of attendance reports, from the meeting date); no Teams link or no meeting
with it -> NO_MEETING. A session that could not be read (refused, throttled too
long) is an error naming what to fix, never "nobody came", and never stops the
others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from connectors.base import (
    Attendance,
    AttendanceAnswer,
    AttendanceStatus,
    ConnectorError,
    ConnectorUserError,
    MeetingQuery,
)
from connectors.outlook.events import join_url, prop_filter, user_path
from connectors.outlook.http import Answer, GraphHttp, Part
from connectors.outlook.meetings import (
    ARTIFACT_PERMISSION,
    LOOKUP_PERMISSION,
    Report,
    is_teams_link,
    odata_string,
    organizer_object_id,
    presences,
    refusal,
    reports,
    session_reports,
)

#: A run of the meeting this close to the session counts as the session's.
GRACE = timedelta(hours=1)
DEFAULT_DELAY = timedelta(hours=24)
DEFAULT_RETENTION = timedelta(days=365)

Runner = Callable[[Sequence[Part]], dict[str, Answer]]
Done = Callable[["_Work", AttendanceStatus, str], None]
Fail = Callable[["_Work", str], None]


@dataclass(frozen=True)
class AttendanceSettings:
    delay: timedelta = DEFAULT_DELAY  # how long after the end a missing report may come
    retention: timedelta = DEFAULT_RETENTION  # how long Graph keeps reports
    client_id: str = ""  # named in the access-policy command to run

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> AttendanceSettings:
        return cls(
            delay=timedelta(hours=_positive(options, "attendance_delay_hours", 24, "hours")),
            retention=timedelta(days=_positive(options, "attendance_retention_days", 365, "days")),
            client_id=str(options.get("client_id", "")),
        )


def _positive(options: Mapping[str, Any], name: str, default: float, unit: str) -> float:
    raw = options.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not value >= 0:  # also NaN
        raise ConnectorUserError(
            f"outlook connector: {name} must be a number of {unit} (0 or more), got {raw!r}"
        )
    return value


@dataclass
class _Work:
    """One session on its way through the steps."""

    query: MeetingQuery
    url: str | None = None
    user: str = ""  # the organiser as online-meeting calls name them (object id)
    meeting_id: str | None = None
    found: list[Report] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mailbox(self) -> str:
        return self.query.organizer.calendar_id.lower()

    @property
    def who(self) -> str:
        box = self.query.organizer.calendar_id
        return box if self.user == box else f"{box} (object id {self.user})"


class TeamsAttendance:
    def __init__(
        self,
        graph: GraphHttp,
        run: Runner,
        clock: Callable[[], datetime],
        settings: AttendanceSettings,
    ) -> None:
        self.graph = graph
        self.run = run
        self.clock = clock
        self.settings = settings

    def read(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        now = self.clock()
        results: dict[str, Attendance] = {}
        errors: dict[str, str] = {}
        work: list[_Work] = []
        for q in {q.key: q for q in queries}.values():
            if now < q.end:
                results[q.key] = Attendance(
                    q.key, AttendanceStatus.PENDING, detail="the session has not ended yet"
                )
            elif q.video_url and not is_teams_link(q.video_url):
                results[q.key] = Attendance(
                    q.key,
                    AttendanceStatus.NO_MEETING,
                    detail=f"the invitation's link is not a Teams meeting ({q.video_url})",
                )
            else:
                work.append(_Work(q, q.video_url))

        def done(w: _Work, status: AttendanceStatus, detail: str) -> None:
            results[w.query.key] = Attendance(w.query.key, status, detail=detail)

        def fail(w: _Work, message: str) -> None:
            errors[w.query.key] = f"Teams attendance of session {w.query.key}: {message}"

        steps = (self._links, self._meetings, self._reports, self._records)
        for step in steps:
            work = step(work, done, fail, now)
        for w in work:
            results[w.query.key] = self._met(w)
        return AttendanceAnswer(results, errors)

    # -- steps: each takes the sessions still open and returns those to go on ------

    def _links(self, work: list[_Work], done: Done, fail: Fail, now: datetime) -> list[_Work]:
        """Sessions without a link: the event's own join URL."""
        need = [w for w in work if not w.url]
        parts = []
        for n, w in enumerate(need):
            box = user_path(w.query.organizer.calendar_id)
            if w.query.event_id:
                url = f"{box}/events/{quote(w.query.event_id, safe='')}?$select=id,onlineMeeting"
            else:
                query = urlencode(
                    {"$filter": prop_filter(w.query.key), "$select": "id,onlineMeeting"},
                    quote_via=quote,
                )
                url = f"{box}/events?{query}"
            parts.append(Part(str(n), "GET", url, w.mailbox))
        answers = self._run(parts, need, fail)
        for n, w in enumerate(need):
            answer = answers.get(str(n))
            if answer is None:
                continue
            body = answer.body if isinstance(answer.body, dict) else {}
            items = body.get("value", [body]) if answer.ok else []
            if answer.status == 404 or (answer.ok and not items):
                done(w, AttendanceStatus.NO_MEETING, "the event is not in the organiser's calendar")
            elif not answer.ok:
                fail(w, f"cannot read the event of {w.mailbox}: {answer.error_text()}")
            else:
                w.url = join_url(items[0])
                if not w.url:
                    done(w, AttendanceStatus.NO_MEETING, "the event has no Teams meeting")
        return [w for w in work if w.url]

    def _meetings(self, work: list[_Work], done: Done, fail: Fail, now: datetime) -> list[_Work]:
        parts = []
        for n, w in enumerate(work):
            assert w.url is not None
            w.user = organizer_object_id(w.url) or w.query.organizer.calendar_id
            query = urlencode({"$filter": f"JoinWebUrl eq {odata_string(w.url)}"}, quote_via=quote)
            url = f"{user_path(w.user)}/onlineMeetings?{query}"
            parts.append(Part(str(n), "GET", url, w.mailbox))
        answers = self._run(parts, work, fail)
        going = []
        for n, w in enumerate(work):
            answer = answers.get(str(n))
            if answer is None:
                continue
            if not answer.ok:
                fail(w, self._refused(w, answer, LOOKUP_PERMISSION, "find the Teams meeting"))
                continue
            found = (answer.body or {}).get("value", [])
            if not found or not found[0].get("id"):
                done(w, AttendanceStatus.NO_MEETING, "Teams has no meeting with the invite's link")
                continue
            w.meeting_id = str(found[0]["id"])
            going.append(w)
        return going

    def _reports(self, work: list[_Work], done: Done, fail: Fail, now: datetime) -> list[_Work]:
        parts = [
            Part(str(n), "GET", f"{self._meeting_path(w)}/attendanceReports", w.mailbox)
            for n, w in enumerate(work)
        ]
        pages = self._all_pages(parts, work, fail)
        going = []
        for n, w in enumerate(work):
            got = pages.get(str(n))
            if isinstance(got, Answer):
                fail(w, self._refused(w, got, ARTIFACT_PERMISSION, "list the attendance reports"))
                continue
            if got is None:
                continue
            q = w.query
            w.found = session_reports(reports(got), q.start, q.end, GRACE)
            if w.found:
                going.append(w)
                continue
            others = f" ({len(got)} report(s) of other runs of the meeting)" if got else ""
            if now < q.end + self.settings.delay:
                done(w, AttendanceStatus.PENDING, "no attendance report yet" + others)
            elif now > q.end + self.settings.retention:
                done(w, AttendanceStatus.EXPIRED, "Teams keeps attendance reports one year")
            else:
                done(w, AttendanceStatus.NOT_HELD, "nobody joined the Teams meeting" + others)
        return going

    def _records(self, work: list[_Work], done: Done, fail: Fail, now: datetime) -> list[_Work]:
        parts: list[Part] = []
        owner: dict[str, _Work] = {}
        for w in work:
            for report in w.found:
                pid = str(len(parts))
                url = f"{self._meeting_path(w)}/attendanceReports/{quote(report.id, safe='')}"
                parts.append(Part(pid, "GET", f"{url}/attendanceRecords", w.mailbox))
                owner[pid] = w
        pages = self._all_pages(parts, work, fail)
        broken: set[str] = set()
        for pid, w in owner.items():
            got = pages.get(pid)
            if isinstance(got, Answer):
                if w.query.key not in broken:
                    fail(w, self._refused(w, got, ARTIFACT_PERMISSION, "read the attendance"))
                broken.add(w.query.key)
            elif got is None:
                broken.add(w.query.key)
            else:
                w.records.extend(got)
        return [w for w in work if w.query.key not in broken]

    # -- pieces ----------------------------------------------------------------------

    def _met(self, w: _Work) -> Attendance:
        q = w.query
        # The organiser's record is known by object id too, whatever address it shows
        # (a UPN that differs from the mailbox's SMTP address).
        seen = presences(w.records, [p.email for p in q.people], {w.user: q.organizer.email})
        runs = ", ".join(f"{r.start:%Y-%m-%d %H:%M}-{r.end:%H:%M} UTC" for r in w.found)
        notes = [f"Teams attendance report(s) of the meeting run(s) {runs}"]
        if seen.anonymous:
            notes.append(f"{seen.anonymous} participant(s) without an e-mail address")
        if seen.incomplete:
            notes.append(f"{seen.incomplete} interval(s) without join or leave time left out")
        return Attendance(q.key, AttendanceStatus.MET, seen.presence, "; ".join(notes))

    def _meeting_path(self, w: _Work) -> str:
        assert w.meeting_id is not None
        return f"{user_path(w.user)}/onlineMeetings/{quote(w.meeting_id, safe='')}"

    def _refused(self, w: _Work, answer: Answer, permission: str, what: str) -> str:
        if answer.status == 403:
            box = w.query.organizer.calendar_id
            return f"cannot {what}: " + refusal(
                answer.body, answer.status, permission, box, w.user, self.settings.client_id
            )
        if answer.status == 404 and w.user == w.query.organizer.calendar_id:
            return (
                f"cannot {what}: Graph found no online meetings for {w.who}; app-only meeting "
                "reads name the organiser by Entra object id, which this join link does not "
                f"carry ({answer.error_text()})"
            )
        if answer.status == 404:
            return (
                f"cannot {what}: Graph does not know organiser {w.who} or the meeting "
                f"({answer.error_text()})"
            )
        return f"cannot {what} of organiser {w.who}: {answer.error_text()}"

    def _run(self, parts: Sequence[Part], work: Sequence[_Work], fail: Fail) -> dict[str, Answer]:
        """`parts` run; on a failure of the whole call, every session of it fails."""
        if not parts:
            return {}
        try:
            return self.run(parts)
        except ConnectorError as exc:
            for w in work:
                fail(w, str(exc))
            return {}

    def _all_pages(
        self, parts: Sequence[Part], work: Sequence[_Work], fail: Fail
    ) -> dict[str, list[dict[str, Any]] | Answer]:
        """Every item of every page per part id, or the failed answer. All parts'
        next pages go together, one round per page depth."""
        out: dict[str, list[dict[str, Any]] | Answer] = {p.id: [] for p in parts}
        todo = list(parts)
        base = self.graph.endpoint
        while todo:
            answers = self._run(todo, work, fail)
            if not answers:
                return {}
            nxt = []
            for part in todo:
                answer = answers[part.id]
                items = out[part.id]
                if not answer.ok or not isinstance(items, list):
                    out[part.id] = answer
                    continue
                body = answer.body or {}
                items.extend(body.get("value", []))
                link = str(body.get("@odata.nextLink") or "")
                if link:
                    # Batch parts take paths under the endpoint; the link is absolute.
                    url = link[len(base) :] if link.startswith(base) else link
                    nxt.append(Part(part.id, "GET", url, part.mailbox))
            todo = nxt
        return out
