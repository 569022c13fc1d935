"""`changes` for CalDAV: RFC 6578 sync-collection, with a full window read as fallback.

The cursor holds the server's sync token and, for each of our events it last
described, its href, key and a digest of what a reconciler cares about (times,
cancellation, replies; `ics_events.state_digest`). So:

- a changed resource is reported only when its digest differs (a client touching an
  alarm is not news), and a resource the cursor never saw only when it is in the
  window (as a full read would have listed it);
- a deleted href (404 in the sync report) is mapped back to its session key, which a
  bare href could not tell after the resource is gone;
- a first read (no cursor) fetches the sync token *before* the window query, so a
  change landing in between is reported again next time rather than lost;
- an invalid token (RFC 6578 `valid-sync-token`, 403/409; Radicale forgets tokens
  after `max_sync_token_age`), a cursor of another calendar or one that does not parse
  is a full read (`full=True`), never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from connectors.base import ChangeSet, EventState
from connectors.caldav.http import DavHttp
from connectors.caldav.items import CalendarMissing, DavFailed, key_in, ours
from connectors.caldav.protocol import (
    ProtocolError,
    calendar_query,
    error_conditions,
    href_path,
    multiget,
    parse_multistatus,
    sync_collection,
    sync_token_propfind,
)
from connectors.cursor_codec import pack, unpack
from connectors.ics import events as ics_events

_PREFIX = "cdv1."
#: Resources we create are named `<key>.ics`, keys being `cp` + 32 hex digits
#: (`scheduler.model.session_key`). A deleted href of that shape the cursor never saw
#: (created and deleted between two reads) is still reported as that key's removal.
_OUR_NAME = re.compile(r"/(cp[0-9a-f]{32})\.ics$")
_MARGIN = timedelta(days=2)  # as in `caldav.QUERY_MARGIN`: floating and all-day times
#: Invalid-token answers: RFC 6578 says 403 or 409 with `valid-sync-token`; some
#: servers answer 400 or 412 instead. Each falls back to a full read.
_BAD_TOKEN = {400, 403, 409, 412}
_MAX_ROUNDS = 50  # truncated (507) sync reports are continued at most this often

Query = Callable[[str, bytes], list[tuple[str, str | None, str]]]


@dataclass(frozen=True)
class CaldavCursor:
    calendar: str  # decoded path of the collection
    token: str  # "" when the server has no sync-token support
    known: Mapping[str, tuple[str, str]]  # href -> (session key, state digest)


def encode(cursor: CaldavCursor) -> str:
    payload = {
        "c": cursor.calendar,
        "t": cursor.token,
        "k": {href: list(entry) for href, entry in sorted(cursor.known.items())},
    }
    return pack(_PREFIX, payload)


def decode(text: str | None) -> CaldavCursor | None:
    """The cursor, or None for anything that is not one of ours."""
    payload = unpack(_PREFIX, text)
    if payload is None:
        return None
    try:
        known = {str(h): (str(e[0]), str(e[1])) for h, e in dict(payload["k"]).items()}
        return CaldavCursor(str(payload["c"]), str(payload["t"]), known)
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def read_changes(
    http: DavHttp,
    query: Query,
    calendar: str,
    owner: str,
    zone: tzinfo,
    cursor: str | None,
    start: datetime,
    end: datetime,
) -> ChangeSet:
    previous = decode(cursor)
    identity = href_path(calendar)
    if previous is None or previous.calendar != identity or not previous.token:
        return _full_read(http, query, calendar, owner, zone, start, end)
    report = _sync_report(http, calendar, previous.token)
    if report is None:
        return _full_read(http, query, calendar, owner, zone, start, end)
    token, present, deleted = report
    known = dict(previous.known)
    changed: dict[str, EventState] = {}
    removed: list[str] = []
    for href in deleted:
        entry = known.pop(href, None)
        match = _OUR_NAME.search(href)
        key = entry[0] if entry else (match.group(1) if match else None)
        if key is not None:
            removed.append(key)
    for href, data in present.items():
        state = _state(href, data, owner, zone)
        if state is None:
            entry = known.pop(href, None)  # no longer ours (tag removed, replaced)
            if entry is not None:
                removed.append(entry[0])
            continue
        digest = ics_events.state_digest(state)
        entry = known.get(href)
        if entry is None and not _overlaps(state, start, end):
            continue  # outside the window and never reported: not followed
        if entry is None or entry[1] != digest:
            changed[state.key] = state
        known[href] = (state.key, digest)
    gone = tuple(sorted(set(removed) - set(changed)))
    return ChangeSet(
        events=_sorted(changed.values()),
        cursor=encode(CaldavCursor(identity, token, known)),
        full=False,
        removed=gone,
    )


def _full_read(
    http: DavHttp,
    query: Query,
    calendar: str,
    owner: str,
    zone: tzinfo,
    start: datetime,
    end: datetime,
) -> ChangeSet:
    token = _current_token(http, calendar)  # first: see the module docstring
    listed: dict[str, EventState] = {}
    known: dict[str, tuple[str, str]] = {}
    for href, _etag, data in query(calendar, calendar_query(start - _MARGIN, end + _MARGIN)):
        state = _state(href, data, owner, zone)
        if state is not None and _overlaps(state, start, end):
            listed[state.key] = state
            known[href] = (state.key, ics_events.state_digest(state))
    cursor = encode(CaldavCursor(href_path(calendar), token or "", known))
    return ChangeSet(_sorted(listed.values()), cursor, full=True)


def _current_token(http: DavHttp, calendar: str) -> str | None:
    answer = http.request("PROPFIND", calendar, sync_token_propfind(), {"Depth": "0"})
    if answer.status in (403, 404, 410):
        raise CalendarMissing(f"{calendar} answers {answer.describe()}")
    if answer.status != 207:
        return None  # no sync support: every read is a full one
    try:
        return parse_multistatus(answer.body).sync_token
    except ProtocolError:
        return None


def _sync_report(
    http: DavHttp, calendar: str, token: str
) -> tuple[str, dict[str, str], list[str]] | None:
    """(new token, data of changed hrefs, deleted hrefs); None when the token is invalid."""
    present: dict[str, str] = {}
    deleted: list[str] = []
    without_data: list[str] = []
    for _round in range(_MAX_ROUNDS):
        answer = http.request("REPORT", calendar, sync_collection(token), {"Depth": "0"})
        if answer.status in _BAD_TOKEN and (
            "valid-sync-token" in error_conditions(answer.body) or answer.status != 403
        ):
            return None
        if answer.status in (403, 404, 410):
            raise CalendarMissing(f"{calendar} answers {answer.describe()}")
        if answer.status != 207:
            raise DavFailed(f"sync report on {calendar}: {answer.describe()}", retryable=True)
        try:
            status = parse_multistatus(answer.body, collection=calendar)
        except ProtocolError as exc:
            raise DavFailed(f"sync report on {calendar}: {exc}", retryable=True) from None
        for resource in status.resources:
            if resource.status == 404:
                deleted.append(resource.href)
                present.pop(resource.href, None)
            elif resource.calendar_data:
                present[resource.href] = resource.calendar_data
            elif not resource.href.endswith("/"):
                without_data.append(resource.href)
        if not status.sync_token:
            raise DavFailed(f"sync report on {calendar} carried no sync-token", retryable=True)
        token = status.sync_token
        if not status.truncated:
            break
    present.update(_fetch_data(http, calendar, [h for h in without_data if h not in present]))
    return token, present, [h for h in deleted if h not in present]


def _fetch_data(http: DavHttp, calendar: str, hrefs: list[str]) -> dict[str, str]:
    """calendar-multiget for servers that leave calendar-data out of sync reports."""
    if not hrefs:
        return {}
    answer = http.request("REPORT", calendar, multiget(hrefs), {"Depth": "1"})
    if answer.status != 207:
        raise DavFailed(f"multiget on {calendar}: {answer.describe()}", retryable=True)
    try:
        resources = parse_multistatus(answer.body).resources
    except ProtocolError as exc:
        raise DavFailed(f"multiget on {calendar}: {exc}", retryable=True) from None
    return {r.href: r.calendar_data for r in resources if r.status == 200 and r.calendar_data}


def _state(href: str, data: str, owner: str, zone: tzinfo) -> EventState | None:
    stored = ours(href, None, data)
    if stored is None:
        return None
    # Copies of other organisers' sessions (we are an attendee there) are not ours.
    if ics_events.organizer_email(stored.vevent) not in (None, owner.strip().lower()):
        return None
    key = key_in(stored.vevent)
    state = ics_events.event_state(stored.vevent, key, zone) if key else None
    # The id `create` handed out is the resource's path, not the UID.
    return replace(state, event_id=href) if state is not None else None


def _overlaps(state: EventState, start: datetime, end: datetime) -> bool:
    return state.start < end and state.end > start


def _sorted(states: Iterable[EventState]) -> tuple[EventState, ...]:
    return tuple(sorted(states, key=lambda s: (s.start, s.key)))
