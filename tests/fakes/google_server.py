"""A stateful fake of the Google Calendar API v3 on 127.0.0.1, for the real client.

The connector talks to it through googleapiclient exactly as to Google:
`build("calendar", "v3", static_discovery=True, client_options={"api_endpoint":
server.url + "calendar/v3/"})`, batches to `server.url + "batch/calendar/v3"`, and
google-auth fetching tokens from `server.token_uri` (written into the key files).

It serves what the connector uses: freeBusy, events insert/get/list/patch/update/
delete, multipart/mixed batches with a status per part, pagination, sync tokens and
410, Google's event id and duplicate rules (see `google_state`), body checks against
the discovery document, scope and calendar-owner checks on every call, the token
endpoint (`google_tokens`), and for attendance the Meet REST API v2 conference
records (`/v2/...`, 403 PERMISSION_DENIED without a Meet scope) and the Directory's
users.get (`google_meet`). Tests seed calls with `add_conference(meeting_code, ...)`
for the Meet code of an event the connector booked. A service account acting as
itself (no delegation) gets Google's 403 forbiddenForServiceAccounts for any write
with attendees. Faults are set per test through `server.faults`.

Counting: `server.stats["api"]` is HTTP requests to the API (a batch is one),
`stats["token"]` token requests, `stats["parts"]` batch parts; `server.calls` logs
every API call (batch parts included) with its parameters and body.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.google_faults import Fault, FaultPlan
from tests.fakes.google_handler import BATCH_PATH, TOKEN_PATH, Reset, handler_for
from tests.fakes.google_meet import MeetStore, Seed
from tests.fakes.google_state import CalendarStore
from tests.fakes.google_tokens import (
    SCOPE_DIRECTORY,
    SCOPE_EVENTS,
    SCOPE_FREEBUSY,
    SCOPE_FULL,
    SCOPE_MEET,
    TokenIssuer,
)
from tests.fakes.google_values import ApiError, RpcError

API_PREFIX = "/calendar/v3/"
MEET_PREFIX = "/v2/"
DIRECTORY_PREFIX = "/admin/directory/v1/users/"
MEET_SCOPES = frozenset({SCOPE_MEET, "https://www.googleapis.com/auth/meetings.space.created"})
DIRECTORY_SCOPES = frozenset(
    {SCOPE_DIRECTORY, "https://www.googleapis.com/auth/admin.directory.user"}
)
EVENT_SCOPES = frozenset({SCOPE_EVENTS, SCOPE_FULL})
FREEBUSY_SCOPES = frozenset(
    {
        SCOPE_FREEBUSY,
        SCOPE_FULL,
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar.events.freebusy",
    }
)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    in_batch: bool
    subject: str
    status: int


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] | None = None

    def payload(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


class FakeGoogle:
    def __init__(self) -> None:
        self.store = CalendarStore()
        self.meet = MeetStore(self._is_user)
        self.faults = FaultPlan()
        self.stats: Counter[str] = Counter()
        self.calls: list[Call] = []
        self.max_freebusy_days = 62.0
        self.check_owner = True  # events.* only on the caller's own calendar
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}/"
        self.tokens = TokenIssuer(self.url + TOKEN_PATH.lstrip("/"), self._is_user)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeGoogle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def token_uri(self) -> str:
        return self.tokens.token_uri

    @property
    def api_endpoint(self) -> str:
        return self.url

    def reset(self) -> None:
        """Empty calendars, no faults, zero counters; keys and tokens stay valid.
        Waits for answers still in progress (a slow answer the client gave up on)
        so they cannot land in the next test's calendars."""
        self.wait_idle()
        self.store = CalendarStore()
        self.meet = MeetStore(self._is_user)
        self.faults = FaultPlan()
        self.check_owner = True
        self.reset_stats()

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(0.05)

    def _begin(self) -> None:
        with self._idle:
            self._in_flight += 1

    def _end(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats.clear()
            self.calls.clear()

    def _is_user(self, email_address: str) -> bool:
        return email_address.lower() in self.store.calendars

    # -- request handling (called from handler threads) ----------------------------

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def serve_api(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        *,
        in_batch: bool = False,
    ) -> _Answer:
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path
        params = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        one = {k: v[-1] for k, v in params.items()}
        body: Any = None
        grant = self.tokens.grant(headers.get("authorization"))
        subject = grant.subject if grant else ""
        try:
            fault = self.faults.fault_for(f"{method} {path}")
            if fault is not None:
                raise _FaultRaised(fault)
            if grant is None:
                raise ApiError(401, "authError", "Invalid Credentials")
            if raw:
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    raise ApiError(400, "parseError", "Parse Error") from None
            if grant.service_account and _invites(method, path, body):
                raise ApiError(
                    403,
                    "forbiddenForServiceAccounts",
                    "Service accounts cannot invite attendees without Domain-Wide "
                    "Delegation of Authority.",
                )
            answer = self._route(method, path, params, one, body, grant.subject, grant.scopes)
        except _FaultRaised as exc:
            f = exc.fault
            extra = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else None
            answer = _Answer(
                f.status,
                ApiError(f.status, f.reason, f.message, domain="usageLimits").body(),
                extra,
            )
        except ApiError as exc:
            answer = _Answer(exc.status, exc.body())
        with self._lock:
            self.calls.append(Call(method, path, params, body, in_batch, subject, answer.status))
        return answer

    def _route(
        self,
        method: str,
        path: str,
        params: dict[str, list[str]],
        one: dict[str, str],
        body: Any,
        subject: str,
        scopes: frozenset[str],
    ) -> _Answer:
        if path.startswith(MEET_PREFIX) or path.startswith(DIRECTORY_PREFIX):
            return _Answer(200, self._route_meet(method, path, one, subject, scopes))
        if not path.startswith(API_PREFIX):
            raise ApiError(404, "notFound", "Not Found")
        parts = [urllib.parse.unquote(p) for p in path[len(API_PREFIX) :].split("/")]
        if parts == ["freeBusy"] and method == "POST":
            _need(scopes, FREEBUSY_SCOPES)
            return _Answer(200, self.store.freebusy(body or {}, self.max_freebusy_days))
        if len(parts) < 3 or parts[0] != "calendars" or parts[2] != "events":
            raise ApiError(404, "notFound", "Not Found")
        _need(scopes, EVENT_SCOPES)
        calendar = subject if parts[1] == "primary" else parts[1]
        if self.check_owner and calendar.lower() != subject:
            # What a user sees of a calendar not shared with them.
            raise ApiError(404, "notFound", "Not Found")
        store = self.store
        if len(parts) == 3:
            if method == "POST":
                return _Answer(200, store.insert(calendar, body or {}, one))
            if method == "GET":
                return _Answer(200, store.list_events(calendar, params))
        elif len(parts) == 4:
            event_id = parts[3]
            if method == "GET":
                return _Answer(200, store.get(calendar, event_id))
            if method in ("PATCH", "PUT"):
                replace = method == "PUT"
                return _Answer(
                    200, store.patch(calendar, event_id, body or {}, one, replace=replace)
                )
            if method == "DELETE":
                store.delete(calendar, event_id)
                return _Answer(204)
        raise ApiError(405, "methodNotAllowed", "Method Not Allowed")

    def _route_meet(
        self, method: str, path: str, one: dict[str, str], subject: str, scopes: frozenset[str]
    ) -> Any:
        """Meet v2 conference records and Directory users.get (see google_meet)."""
        if method != "GET":
            raise ApiError(405, "methodNotAllowed", "Method Not Allowed")
        if path.startswith(DIRECTORY_PREFIX):
            _need(scopes, DIRECTORY_SCOPES)
            key = urllib.parse.unquote(path[len(DIRECTORY_PREFIX) :])
            return self.meet.get_user(subject, key, one)
        if not scopes & MEET_SCOPES:
            raise RpcError(
                403,
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes.",
                reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            )
        parts = [urllib.parse.unquote(p) for p in path[len(MEET_PREFIX) :].split("/")]
        meet = self.meet
        if parts == ["conferenceRecords"]:
            return meet.list_records(subject, one)
        if len(parts) == 2 and parts[0] == "conferenceRecords":
            return meet.get_record(subject, parts[1])
        if len(parts) == 3 and parts[2] == "participants":
            return meet.list_participants(subject, parts[1], one)
        if len(parts) == 5 and parts[2] == "participants" and parts[4] == "participantSessions":
            return meet.list_sessions(subject, parts[1], parts[3], one)
        raise RpcError(404, "NOT_FOUND", "Method not found.")

    def serve_batch(self, headers: dict[str, str], raw: bytes) -> tuple[str, bytes]:
        content_type = headers.get("content-type", "")
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        if not message.is_multipart():
            raise ApiError(400, "badRequest", "Batch request is not multipart/mixed")
        parts: list[tuple[str, str, str, dict[str, str], bytes]] = []
        requests: list[Any] = message.get_payload()  # type: ignore[assignment]
        for part in requests:
            # Unfold (RFC 5322): the client folds long Content-IDs at " + ".
            content_id = re.sub(r"\r?\n[ \t]+", " ", part.get("Content-ID", ""))
            text: str = part.get_payload(decode=False)
            request_line, _, rest = text.partition("\n")
            method, target, _version = request_line.strip().split(" ", 2)
            inner = email.parser.Parser(policy=email.policy.compat32).parsestr(rest)
            inner_headers = {k.lower(): v for k, v in inner.items()}
            # Headers of the outer request apply to every part that does not set them.
            inner_headers.setdefault("authorization", headers.get("authorization", ""))
            body = str(inner.get_payload() or "").encode()
            parts.append((content_id, method, target, inner_headers, body))
        self.count("parts", len(parts))
        signature = tuple(f"{m} {t}" for _cid, m, t, _h, _b in parts)
        cut = self.faults.reset_after(f"POST {BATCH_PATH}", signature)
        boundary = "batch_" + uuid.uuid4().hex
        out: list[str] = []
        for index, (content_id, method, target, inner_headers, body) in enumerate(parts):
            if cut is not None and index == cut:
                raise Reset()
            answer = self.serve_api(method, target, inner_headers, body, in_batch=True)
            reason = HTTPStatus(answer.status).phrase
            lines = [f"HTTP/1.1 {answer.status} {reason}"]
            lines.append("Content-Type: application/json; charset=UTF-8")
            for name, value in (answer.headers or {}).items():
                lines.append(f"{name}: {value}")
            payload = answer.payload().decode()
            response_id = content_id.replace("<", "<response-", 1)
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: {response_id}\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n"
                f"{payload}\r\n"
            )
        if cut is not None:
            raise Reset()
        out.append(f"--{boundary}--\r\n")
        return f"multipart/mixed; boundary={boundary}", "".join(out).encode()

    # -- test controls ---------------------------------------------------------------

    def add_user(self, email_address: str) -> None:
        self.store.add_calendar(email_address)

    def add_conference(
        self,
        meeting_code: str,
        start: Any,
        end: Any,
        participants: list[Seed] | tuple[Seed, ...] = (),
        *,
        owner: str | None = None,
    ) -> str:
        """Seed a Meet conference of the space `meeting_code` (see MeetStore); its
        owner is the organiser of the calendar event carrying that code, unless
        given. Returns the record's name."""
        if owner is None:
            owner = self.store.organizer_of_meeting(meeting_code)
        return self.meet.add_conference(meeting_code, start, end, participants, owner=owner)

    def api_calls(self, *, kind: str | None = None) -> Iterator[Call]:
        with self._lock:
            calls = list(self.calls)
        for call in calls:
            if kind is None or kind in f"{call.method} {call.path}":
                yield call


class _FaultRaised(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


def _invites(method: str, path: str, body: Any) -> bool:
    """An events write that sends invitations (a body with attendees)."""
    return (
        method in ("POST", "PATCH", "PUT")
        and "/events" in path
        and isinstance(body, dict)
        and bool(body.get("attendees"))
    )


def _need(scopes: frozenset[str], accepted: frozenset[str]) -> None:
    if not scopes & accepted:
        raise ApiError(
            403, "insufficientPermissions", "Request had insufficient authentication scopes."
        )
