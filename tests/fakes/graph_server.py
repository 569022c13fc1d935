"""A stateful fake of Microsoft Graph v1.0 and of the Entra ID token endpoints.

Served over plain HTTP on 127.0.0.1. Its public names are https ones
(`https://login.fake.test`, `https://graph.fake.test/v1.0`) because msal insists on an
https authority; `FakeGraph.transport()` gives an httpx transport that sends those
hosts to the loopback port, so msal's real client-credentials and device-code code
paths run unchanged through the connector's own HTTP client.

What it implements is what the Outlook connector uses (see graph_state for the
calendar semantics): getSchedule, events create/get/list/patch/cancel/delete with the
extended-property `$filter` and `$expand`, fileAttachment upload, calendarView and
calendarView/delta with skip/delta tokens, Teams online meetings and their
attendance reports (graph_meetings; `add_attendance` seeds a report), `$batch`
(≤ 20 parts, answers shuffled, per-part status, `dependsOn` with 424 for a failed
dependency, > 4 parts of one mailbox in one wave throttled), attachment listing, the
OIDC discovery, token and device-code endpoints. Requests are counted (a `$batch` is
one request; token requests apart) and faults can be injected per test. What each
attendee was sent is in `state.sent`; `state.teams_allowed = False` makes creates
answer without a Teams meeting; `schedule_max_days` is getSchedule's window limit.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

from tests.fakes.graph_batch import run_batch
from tests.fakes.graph_entra import (
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    Answer,
    EntraEndpoints,
)
from tests.fakes.graph_faults import FaultPlan
from tests.fakes.graph_meetings import FakeReport, Participant
from tests.fakes.graph_state import CalendarState, FakeEvent, GraphFault, parse_graph_time
from tests.fakes.graph_wire import AUTHORITY_HOST, GRAPH_HOST, LoopbackTransport, Reset
from tests.fakes.graph_wire import Handler as WireHandler

_PROP_FILTER = re.compile(
    r"^singleValueExtendedProperties/any\(ep:\s*ep/id eq '([^']+)' and ep/value eq '([^']*)'\)$",
    re.IGNORECASE,
)
_PROP_EXPAND = re.compile(r"^singleValueExtendedProperties\(\$filter=id eq '([^']+)'\)$", re.I)


class FakeGraph(EntraEndpoints):
    def __init__(self, mailboxes: list[str], *, transaction_dedup: bool = False) -> None:
        self.state = CalendarState(mailboxes, transaction_dedup=transaction_dedup, tenant=TENANT)
        self.lock = threading.RLock()
        self.faults = FaultPlan()
        self.counts: Counter[str] = Counter()  # "graph", "token", "batch_parts", per route
        self.log: list[tuple[str, str, dict[str, str]]] = []  # method, path+query, headers
        self.tokens: dict[str, str] = {}  # access token -> grant ("app" or "user")
        self.token_roles: dict[str, frozenset[str]] = {}
        self._caller = threading.local()  # the roles of the request being served
        self.secret = CLIENT_SECRET
        self.devices: dict[str, dict[str, Any]] = {}
        self.auto_approve_devices = True
        # Application permissions of the app: without Calendars.ReadWrite every write
        # to a calendar is refused (403), as for an app consented read-only.
        self.app_roles: set[str] = {"Calendars.ReadWrite", "Mail.Send"}
        self._cut: int | None = None  # parts of the next batch run before a reset
        # True: refuse a batch mixing parts with and without dependsOn, as older
        # tenants did (the current json-batching page shows such batches working).
        self.refuse_mixed_dependson = False
        self.sent_mail: list[tuple[str, EmailMessage]] = []  # (sender mailbox, message)
        self.page_size = 10  # Graph's default page
        self.max_page = 1000  # a test lowers it to force many pages
        # getSchedule's window limit: Graph documents 62 days, but answers citing
        # Exchange's 42-day TimeWindow limit are seen; the fake takes the strict one.
        self.schedule_max_days = 41
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> FakeGraph:
        fake = self

        class Handler(WireHandler):
            graph = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def authority_host(self) -> str:
        return f"https://{AUTHORITY_HOST}"

    @property
    def graph_endpoint(self) -> str:
        return f"https://{GRAPH_HOST}/v1.0"

    def transport(self) -> httpx.BaseTransport:
        return LoopbackTransport(self.port)

    def options(self, **extra: Any) -> dict[str, Any]:
        """Connector options pointing at this fake (the secret via an env var name)."""
        opts: dict[str, Any] = {
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "client_secret_env": "COACHPASS_TEST_GRAPH_SECRET",
            "authority_host": self.authority_host,
            "graph_endpoint": self.graph_endpoint,
        }
        opts.update(extra)
        return opts

    # -- test controls: what people do in their own Outlook -----------------------

    def by_key(self, key: str, *, include_deleted: bool = False) -> list[FakeEvent]:
        with self.lock:
            return [
                e
                for e in self.state.events.values()
                if key in e.ext_props.values() and (include_deleted or not e.deleted)
            ]

    def add_event(
        self,
        mailbox: str,
        start: datetime,
        end: datetime,
        *,
        show_as: str = "busy",
        subject: str = "Meeting",
        online: bool = False,
    ) -> FakeEvent:
        """An event the mailbox's owner made; `online`: with a Teams meeting."""
        with self.lock:
            return self.state.create(
                mailbox,
                {
                    "subject": subject,
                    "start": {"dateTime": start.astimezone(UTC).isoformat(), "timeZone": "UTC"},
                    "end": {"dateTime": end.astimezone(UTC).isoformat(), "timeZone": "UTC"},
                    "showAs": show_as,
                    "isOnlineMeeting": online,
                },
            )

    def respond(self, key: str, email: str, response: str) -> None:
        with self.lock:
            for e in self.by_key(key):
                self.state.respond(e, email, response)

    def cancel_by_organiser(self, key: str) -> None:
        with self.lock:
            for e in self.by_key(key):
                self.state.remove(e)

    def move(self, key: str, start: datetime, end: datetime) -> None:
        with self.lock:
            for e in self.by_key(key):
                self.state.move(e, start, end)

    def expire_delta_tokens(self) -> None:
        with self.lock:
            self.state.expire_tokens()

    # -- request handling ---------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path
        if path.startswith("/v1.0/"):
            with self.lock:
                self.counts["graph"] += 1
                self.log.append((method, raw_path, headers))
            fault = self.faults.draw()
            if fault == "slow":
                # The work is done at once, the answer comes late: a client that
                # times out must find what it made instead of making it again.
                answer = self._graph(method, path[5:], query, headers, body, top=True)
                time.sleep(self.faults.slow_seconds)
                return answer
            if fault == "reset" and method != "GET":
                # The worst moment: the work is done (for a batch, only its first parts,
                # as if the connection broke mid-batch) but the answer is lost.
                self._cut = self.faults.cut_point()
                try:
                    self._graph(method, path[5:], query, headers, body, top=True)
                finally:
                    self._cut = None
                raise Reset
            if fault == "reset":
                raise Reset
            if fault == "401":
                with self.lock:
                    token = headers.get("authorization", "")[7:]
                    self.tokens.pop(token, None)  # expired: only a new token works
                return 401, {}, {"error": {"code": "InvalidAuthenticationToken", "message": ""}}
            if fault in ("429", "503", "504"):
                return self._fault_answer(fault)
            return self._graph(method, path[5:], query, headers, body, top=True)
        with self.lock:
            self.counts["token"] += 1
        return self._auth(method, path, body)

    def _fault_answer(self, fault: str) -> Answer:
        if fault == "429":
            return (
                429,
                {"Retry-After": self.faults.retry_after},
                {"error": {"code": "TooManyRequests", "message": "Application is over its limit."}},
            )
        if fault == "504":
            return 504, {}, {"error": {"code": "GatewayTimeout", "message": "Timed out."}}
        return 503, {}, {"error": {"code": "ServiceUnavailable", "message": "Try again."}}

    def _graph(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        *,
        top: bool,
    ) -> Answer:
        if top:
            auth = headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                return 401, {}, {"error": {"code": "InvalidAuthenticationToken", "message": "bad"}}
            # A $batch's parts carry no token: they run with the batch's.
            self._caller.roles = set(self.token_roles.get(auth[7:], ()))
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if body and kind == "text/plain":
            payload: Any = body  # sendMail's base64 MIME
        elif body and kind != "application/json":
            return 415, {}, {"error": {"code": "UnsupportedMediaType", "message": kind}}
        else:
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                return 400, {}, {"error": {"code": "BadRequest", "message": "body is not JSON"}}
        if path == "/$batch" and method == "POST" and top:
            return self._batch(payload, headers)
        try:
            with self.lock:
                return self._route(method, path, query, headers, payload)
        except GraphFault as fault:
            return fault.status, {}, fault.body()

    def _route(
        self, method: str, path: str, q: dict[str, str], headers: dict[str, str], body: Any
    ) -> Answer:
        st = self.state
        seg = [s for s in path.split("/") if s]
        if len(seg) < 2 or seg[0].lower() != "users":
            raise GraphFault(400, "BadRequest", f"unsupported path {path}")
        user = seg[1]
        rest = [s.lower() for s in seg[2:]]
        if rest[:1] == ["onlinemeetings"]:
            return self._meetings(method, unquote(user), [unquote(s) for s in seg[3:]], q)
        expand = None
        if "$expand" in q:
            m = _PROP_EXPAND.match(q["$expand"])
            if not m:
                raise GraphFault(400, "BadRequest", f"unsupported $expand {q['$expand']}")
            expand = m.group(1)
        if rest == [] and method == "GET":
            st.mailbox(user)
            return 200, {}, {"userPrincipalName": user, "mail": user}
        if rest == ["calendar"] and method == "GET":
            st.mailbox(user)
            return 200, {}, {"id": "AAMkCal", "name": "Calendar", "canEdit": True}
        if rest == ["sendmail"] and method == "POST":
            st.mailbox(user)
            if not isinstance(body, bytes):
                raise GraphFault(400, "ErrorInvalidRequest", "the fake takes MIME only")
            try:
                raw = base64.b64decode(body, validate=True)
            except ValueError:
                raise GraphFault(400, "ErrorMimeContentInvalidBase64String", "bad base64") from None
            self.sent_mail.append((user.lower(), BytesParser(policy=default).parsebytes(raw)))
            return 202, {}, None
        if rest == ["calendar", "getschedule"] and method == "POST":
            return self._schedule(user, body)
        if rest[:1] == ["events"] and method != "GET":
            self._need_write()
        if rest == ["events"] and method == "POST":
            return 201, {}, st.create(user, body).to_json(expand)
        if rest == ["events"] and method == "GET":
            box = st.mailbox(user)
            if "$filter" in q:
                m = _PROP_FILTER.match(q["$filter"])
                if not m:
                    raise GraphFault(400, "BadRequest", f"unsupported $filter {q['$filter']}")
                found = st.find_by_prop(user, m.group(1), m.group(2))
            else:
                found = st.live(box)
            return self._page([e.to_json(expand) for e in found], path, q)
        if rest in (["calendarview"], ["calendarview", "delta"]) and method == "GET":
            if rest[-1] == "delta":
                return self._delta(user, q, headers)
            try:
                start = parse_graph_time(q["startDateTime"])
                end = parse_graph_time(q["endDateTime"])
            except KeyError:
                raise GraphFault(400, "ErrorInvalidParameter", "startDateTime needed") from None
            box = st.mailbox(user)
            found = [e for e in st.live(box) if e.overlaps(start, end)]
            return self._page([e.to_json(expand) for e in found], path, q)
        if len(rest) >= 2 and rest[0] == "events":
            event_id = seg[3]
            tail = rest[2:]
            if tail == [] and method == "GET":
                return 200, {}, st.get(user, event_id).to_json(expand)
            if tail == [] and method == "PATCH":
                return 200, {}, st.patch(user, event_id, body).to_json(expand)
            if tail == [] and method == "DELETE":
                st.delete(user, event_id)
                return 204, {}, None
            if tail == ["cancel"] and method == "POST":
                st.cancel(user, event_id)
                return 202, {}, None
            if tail == ["attachments"] and method == "POST":
                return 201, {}, st.add_attachment(user, event_id, body)
            if tail == ["attachments"] and method == "GET":
                # Listed without their bytes, as `$select=name,...` asks.
                files = st.get(user, event_id).attachments
                return self._page(
                    [{k: v for k, v in a.items() if k != "contentBytes"} for a in files], path, q
                )
        raise GraphFault(400, "BadRequest", f"unsupported {method} {path}")

    def _meetings(self, method: str, user: str, tail: list[str], q: dict[str, str]) -> Answer:
        roles = getattr(self._caller, "roles", set())
        answer, paged = self.state.meetings.serve(
            method, user, tail, q, roles, self.state.mailboxes, CLIENT_ID
        )
        if paged:
            assert isinstance(answer, list)
            path = "/".join(quote(s, safe="") for s in [user, "onlineMeetings", *tail])
            return self._page(answer, "/users/" + path, q)
        return 200, {}, answer

    # -- test controls: Teams meetings --------------------------------------------

    def add_attendance(
        self,
        join_url: str,
        start: datetime,
        end: datetime,
        records: Sequence[Participant] = (),
    ) -> FakeReport:
        """Teams made an attendance report for the meeting of `join_url`: the
        meeting ran start..end and `records` were in it, each an (e-mail or None,
        [(join, leave), ...])."""
        with self.lock:
            return self.state.meetings.add_report(join_url, start, end, records)

    def _need_write(self) -> None:
        if "Calendars.ReadWrite" not in self.app_roles:
            raise GraphFault(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    def _page(self, items: list[dict[str, Any]], path: str, q: dict[str, str]) -> Answer:
        top = min(int(q.get("$top", self.page_size)), self.max_page)
        skip = int(q.get("$skip", 0))
        out: dict[str, Any] = {"value": items[skip : skip + top]}
        if skip + top < len(items):
            rest = {k: v for k, v in q.items() if k != "$skip"}
            rest["$skip"] = str(skip + top)
            out["@odata.nextLink"] = (
                self.graph_endpoint + path + "?" + httpx.QueryParams(rest).__str__()
            )
        return 200, {}, out

    def _schedule(self, user: str, body: dict[str, Any]) -> Answer:
        self.state.mailbox(user)
        schedules = body.get("schedules", [])
        if not schedules or len(schedules) > 20:
            raise GraphFault(400, "ErrorInvalidParameter", "1 to 20 schedules per request")
        start = parse_graph_time(body["startTime"])
        end = parse_graph_time(body["endTime"])
        if end - start > timedelta(days=self.schedule_max_days) or end <= start:
            raise GraphFault(
                400,
                "ErrorInvalidTimeInterval",
                f"the window is over {self.schedule_max_days} days",
            )
        interval = int(body.get("availabilityViewInterval", 30))
        return 200, {}, {"value": [self.state.schedule(s, start, end, interval) for s in schedules]}

    def _delta(self, user: str, q: dict[str, str], headers: dict[str, str]) -> Answer:
        st = self.state
        size = self.page_size
        m = re.search(r"odata\.maxpagesize=(\d+)", headers.get("prefer", ""))
        if m:
            size = min(int(m.group(1)), self.max_page)
        if "$deltatoken" in q:
            token, state = st.delta_changes(q["$deltatoken"])
        elif "$skiptoken" in q:
            token = q["$skiptoken"]
            state = st.delta_resume(token)
        else:
            try:
                start = parse_graph_time(q["startDateTime"])
                end = parse_graph_time(q["endDateTime"])
            except KeyError:
                raise GraphFault(400, "ErrorInvalidParameter", "startDateTime needed") from None
            token, state = st.delta_start(user, start, end)
        page, state.pending = state.pending[:size], state.pending[size:]
        base = f"{self.graph_endpoint}/users/{user}/calendarView/delta"
        out: dict[str, Any] = {"value": page}
        if state.pending:
            out["@odata.nextLink"] = f"{base}?$skiptoken={token}"
        else:
            out["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
        return 200, {}, out

    def _batch(self, payload: dict[str, Any], headers: dict[str, str]) -> Answer:
        return run_batch(self, payload)


@contextmanager
def running(mailboxes: list[str], **kwargs: Any) -> Iterator[FakeGraph]:
    fake = FakeGraph(mailboxes, **kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
