"""Google Meet REST API v2 conference records and the Admin SDK Directory, faked.

Pure state with a lock, no HTTP (`google_server` routes `/v2/...` and
`/admin/directory/v1/users/...` here). Shapes and rules follow Google's reference:

- `conferenceRecords` {name, startTime, endTime, expireTime, space}; `list` takes a
  `filter` over `space.meeting_code`, `space.name`, `start_time`, `end_time` (AIP-160
  comparisons joined by AND; a malformed timestamp or meeting code, an unknown
  field or an ordering on a string field is 400 INVALID_ARGUMENT, as at Google; OR
  and parentheses are not modelled and are refused too, rather than guessed) and
  pages with pageSize/pageToken (default 25, at most 100; a token is bound to its
  filter). A caller sees the records of spaces
  they own or joined signed in.
- `participants` {name, earliestStartTime, latestEndTime, and one of signedinUser
  {user: "users/{id}", displayName}, anonymousUser {displayName}, phoneUser
  {displayName}}; `participantSessions` {name, startTime, endTime}. Both page (100 by
  default, at most 250). An ongoing conference has no endTime; a person still in it
  has no latestEndTime and their open session no endTime.
- Records are deleted 30 days after the conference ends (`expireTime`), by the
  fake's clock: from then on list returns nothing and get is 404.
- The service "might return fewer than pageSize": `page_cap` (small by default)
  makes every test cross page boundaries whatever size the client asks for.
- Directory `users.get` by primary e-mail or id answers the user's `id`; without
  `viewType=domain_public` only an admin may read it (403), as for real.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.google_values import ApiError, RpcError, decode_token, encode_token, parse_time

RETENTION = timedelta(days=30)
MEETING_CODE = re.compile(r"^[a-z]{3}-[a-z]{4}-[a-z]{3}$")
#: One comparison of a filter: field, operator, quoted value (or IS NULL).
_TERM = re.compile(
    r'^\s*(?P<field>[a-z_.]+)\s*(?:(?P<op><=|>=|!=|=|<|>)\s*"(?P<value>[^"]*)"|\s+IS\s+NULL)\s*$'
)
_TIME_FIELDS = ("start_time", "end_time")
_STRING_FIELDS = ("space.meeting_code", "space.name")

#: A seeded participant: e-mail (signed in), None (anonymous) or "tel:..." (phone),
#: with their join/leave intervals (leave None: still in the call).
Seed = tuple[str | None, Sequence[tuple[datetime, datetime | None]]]


@dataclass
class _Participant:
    pid: str
    email: str | None
    kind: str  # signedinUser, anonymousUser, phoneUser
    display: str
    sessions: list[tuple[datetime, datetime | None]]


@dataclass
class _Record:
    rid: str
    space: str
    meeting_code: str
    owner: str
    start: datetime
    end: datetime | None
    participants: list[_Participant] = field(default_factory=list)

    @property
    def expire(self) -> datetime | None:
        return None if self.end is None else self.end + RETENTION


def user_id(email: str) -> str:
    """A stable numeric Google user id for an e-mail (ids are digits at Google)."""
    return str(int(hashlib.sha256(email.lower().encode()).hexdigest()[:15], 16))


def meeting_code_for(request_id: str) -> str:
    """The meeting code Meet gives the conference created for `request_id`: three
    groups of lower-case letters (abc-mnop-xyz), stable for one request."""
    digest = hashlib.sha256(request_id.encode()).digest()
    letters = "".join(chr(ord("a") + b % 26) for b in digest[:10])
    return f"{letters[:3]}-{letters[3:7]}-{letters[7:10]}"


class MeetStore:
    def __init__(self, users: Callable[[str], bool]) -> None:
        self.lock = threading.RLock()
        self._users = users  # is this e-mail a user of the domain?
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.page_cap = 2  # at most this many items per page, whatever was asked
        self.admins: set[str] = set()
        self.records: list[_Record] = []
        self._next = 0

    # -- test controls ------------------------------------------------------------

    def add_conference(
        self,
        meeting_code: str,
        start: datetime,
        end: datetime | None,
        participants: Sequence[Seed] = (),
        *,
        owner: str,
    ) -> str:
        """Seed one conference of the space `meeting_code` owned by `owner` (the
        organiser of its calendar event); returns the record's name."""
        if not MEETING_CODE.match(meeting_code):
            raise ValueError(f"not a Meet code: {meeting_code!r}")
        with self.lock:
            self._next += 1
            rid = f"rec{self._next:04d}"
            space = "spaces/" + hashlib.sha256(meeting_code.encode()).hexdigest()[:12]
            record = _Record(rid, space, meeting_code, owner.lower(), start, end)
            for n, (who, spans) in enumerate(participants, 1):
                if who is None:
                    kind, display = "anonymousUser", f"Guest {n}"
                elif who.startswith("tel:"):
                    kind, display = "phoneUser", who[4:-4] + "****"
                else:
                    kind, display = "signedinUser", who.split("@")[0].title()
                pid = f"p{n:03d}"
                record.participants.append(_Participant(pid, who, kind, display, list(spans)))
            self.records.append(record)
            return f"conferenceRecords/{rid}"

    # -- conferenceRecords --------------------------------------------------------

    def _visible(self, subject: str) -> list[_Record]:
        now = self.clock()
        return [
            r
            for r in self.records
            if (r.expire is None or now < r.expire)
            and (r.owner == subject or any(p.email == subject for p in r.participants))
        ]

    def list_records(self, subject: str, params: dict[str, str]) -> dict[str, Any]:
        test = _parse_filter(params.get("filter", ""))
        with self.lock:
            chosen = [r for r in self._visible(subject) if test(r)]
            chosen.sort(key=lambda r: (r.start, r.rid), reverse=True)  # newest first
            items, token = self._page(chosen, params, default=25, most=100)
            answer: dict[str, Any] = {"conferenceRecords": [_record(r) for r in items]}
            if token:
                answer["nextPageToken"] = token
            return answer

    def _record_of(self, subject: str, rid: str) -> _Record:
        for record in self._visible(subject):
            if record.rid == rid:
                return record
        raise RpcError(404, "NOT_FOUND", f"Requested entity was not found: {rid}")

    def get_record(self, subject: str, rid: str) -> dict[str, Any]:
        with self.lock:
            return _record(self._record_of(subject, rid))

    def list_participants(self, subject: str, rid: str, params: dict[str, str]) -> dict[str, Any]:
        if params.get("filter"):
            raise RpcError(400, "INVALID_ARGUMENT", "the fake does not filter participants")
        with self.lock:
            record = self._record_of(subject, rid)
            items, token = self._page(record.participants, params, default=100, most=250)
            answer: dict[str, Any] = {
                "participants": [_participant(record, p) for p in items],
                "totalSize": len(record.participants),
            }
            if token:
                answer["nextPageToken"] = token
            return answer

    def list_sessions(
        self, subject: str, rid: str, pid: str, params: dict[str, str]
    ) -> dict[str, Any]:
        if params.get("filter"):
            raise RpcError(400, "INVALID_ARGUMENT", "the fake does not filter sessions")
        with self.lock:
            record = self._record_of(subject, rid)
            found = [p for p in record.participants if p.pid == pid]
            if not found:
                raise RpcError(404, "NOT_FOUND", f"Requested entity was not found: {pid}")
            spans = list(enumerate(found[0].sessions, 1))
            items, token = self._page(spans, params, default=100, most=250)
            base = f"conferenceRecords/{rid}/participants/{pid}/participantSessions/"
            sessions = []
            for n, (join, leave) in items:
                one = {"name": f"{base}s{n:03d}", "startTime": _time(join)}
                if leave is not None:
                    one["endTime"] = _time(leave)
                sessions.append(one)
            answer: dict[str, Any] = {"participantSessions": sessions}
            if token:
                answer["nextPageToken"] = token
            return answer

    def _page(
        self, items: Sequence[Any], params: dict[str, str], *, default: int, most: int
    ) -> tuple[Sequence[Any], str | None]:
        try:
            size = int(params.get("pageSize") or default)
        except ValueError:
            raise RpcError(400, "INVALID_ARGUMENT", "Invalid value at 'page_size'") from None
        if size < 0:
            raise RpcError(400, "INVALID_ARGUMENT", "page_size must not be negative")
        size = min(size or default, most, self.page_cap)
        bound = params.get("filter", "")
        offset = 0
        if params.get("pageToken"):
            token = decode_token(params["pageToken"])
            if token.get("filter") != bound:
                raise RpcError(400, "INVALID_ARGUMENT", "page token does not match the filter")
            offset = int(token["offset"])
        chosen = items[offset : offset + size]
        more = offset + size < len(items)
        return chosen, encode_token({"offset": offset + size, "filter": bound}) if more else None

    # -- Directory ----------------------------------------------------------------

    def get_user(self, subject: str, user_key: str, params: dict[str, str]) -> dict[str, Any]:
        view = params.get("viewType", "admin_view")
        if view not in ("admin_view", "domain_public"):
            raise RpcError(400, "INVALID_ARGUMENT", f"Invalid value for viewType: {view}")
        if view == "admin_view" and subject not in self.admins:
            raise _directory_error(403, "forbidden", "Not Authorized to access this resource/api")
        key = user_key.lower()
        with self.lock:
            email = key if self._users(key) else None
        if email is None:
            raise _directory_error(404, "notFound", "Resource Not Found: userKey")
        return {
            "kind": "admin#directory#user",
            "id": user_id(email),
            "primaryEmail": email,
            "name": {"fullName": email.split("@")[0].title()},
        }


def _directory_error(status: int, reason: str, message: str) -> ApiError:
    # The Directory API answers in the older shape, with an `errors` list.
    return ApiError(status, reason, message)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(r: _Record) -> dict[str, Any]:
    out = {"name": f"conferenceRecords/{r.rid}", "startTime": _time(r.start), "space": r.space}
    if r.end is not None and r.expire is not None:
        out["endTime"] = _time(r.end)
        out["expireTime"] = _time(r.expire)
    return out


def _participant(r: _Record, p: _Participant) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f"conferenceRecords/{r.rid}/participants/{p.pid}"}
    if p.kind == "signedinUser" and p.email:
        out["signedinUser"] = {"user": f"users/{user_id(p.email)}", "displayName": p.display}
    else:
        out[p.kind] = {"displayName": p.display}
    if p.sessions:
        out["earliestStartTime"] = _time(min(s for s, _e in p.sessions))
        if all(e is not None for _s, e in p.sessions):
            out["latestEndTime"] = _time(max(e for _s, e in p.sessions if e is not None))
    return out


def _parse_filter(text: str) -> Callable[[_Record], bool]:
    """The record test for a `conferenceRecords.list` filter, or 400 for one the
    service would refuse (unknown field, bad operator, unquoted or bad value)."""
    if not text.strip():
        return lambda _r: True
    tests: list[Callable[[_Record], bool]] = []
    for term in re.split(r"\s+AND\s+", text.strip()):
        match = _TERM.match(term)
        if not match:
            raise RpcError(400, "INVALID_ARGUMENT", f"Invalid filter: {term!r}")
        name, op, value = match["field"], match["op"], match["value"]
        if name in _STRING_FIELDS:
            if op not in ("=", "!="):
                raise RpcError(400, "INVALID_ARGUMENT", f"Invalid operator {op} for {name}")
            if name == "space.meeting_code" and not MEETING_CODE.match(value or ""):
                raise RpcError(400, "INVALID_ARGUMENT", f"Invalid meeting code: {value!r}")
            tests.append(_string_test(name, op, value))
        elif name in _TIME_FIELDS:
            if op is None:
                tests.append(_null_test(name))
                continue
            try:
                when = parse_time(value)
            except (ValueError, ApiError):
                raise RpcError(400, "INVALID_ARGUMENT", f"Invalid timestamp: {value!r}") from None
            tests.append(_time_test(name, op, when))
        else:
            raise RpcError(400, "INVALID_ARGUMENT", f"Invalid filter field: {name}")
    return lambda r: all(t(r) for t in tests)


def _string_test(name: str, op: str, value: str) -> Callable[[_Record], bool]:
    def test(r: _Record) -> bool:
        actual = r.meeting_code if name == "space.meeting_code" else r.space
        return (actual == value) == (op == "=")

    return test


def _null_test(name: str) -> Callable[[_Record], bool]:
    return lambda r: (r.start if name == "start_time" else r.end) is None


_OPS: dict[str, Callable[[datetime, datetime], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _time_test(name: str, op: str, when: datetime) -> Callable[[_Record], bool]:
    def test(r: _Record) -> bool:
        actual = r.start if name == "start_time" else r.end
        return actual is not None and _OPS[op](actual, when)

    return test
