"""Incremental reads of an organiser's calendar: `calendarView/delta`.

The first read (or one after the delta token expired, 410 / syncStateNotFound) walks
the delta pages to their `@odata.deltaLink` and reads the window once through
`calendarView` with our tag expanded, because delta answers carry no extended
properties. The cursor handed out holds the deltaLink, the window and the map of
event id -> session key, so a later read needs no look-up for events it knows and
names removed events by key: a reconcile with no change is one request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from connectors.base import (
    CalendarRef,
    ChangeSet,
    ConnectorError,
    ConnectorUserError,
    TransientError,
)
from connectors.graph_http import UTC_PREFER, Answer, GraphHttp, PageError, Part
from connectors.outlook_events import event_state, key_of, prop_expand, user_path

DELTA_PAGE = 100  # Prefer odata.maxpagesize: fewer pages per full read
CURSOR_VERSION = 1


class DeltaReader:
    def __init__(
        self, graph: GraphHttp, run: Callable[[Sequence[Part]], dict[str, Answer]]
    ) -> None:
        self.graph = graph
        self.run = run  # one plain call, or `$batch` for several parts

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        state = _decode_cursor(cursor, start, end)
        if state is not None:
            try:
                return self._incremental(organizer, state, start, end)
            except PageError as exc:
                if not _sync_state_lost(exc.answer):
                    raise _page_failure(organizer, exc.answer) from None
        return self._full(organizer, start, end)

    def _prefer(self) -> dict[str, str]:
        return {"Prefer": f"{UTC_PREFER}, odata.maxpagesize={DELTA_PAGE}"}

    def _full(self, organizer: CalendarRef, start: datetime, end: datetime) -> ChangeSet:
        box = organizer.calendar_id
        window = urlencode(
            {"startDateTime": _iso(start), "endDateTime": _iso(end)}, quote_via=quote
        )
        try:
            # The delta read only yields the token; its items carry no extended
            # properties, so the keys come from a calendarView with the tag expanded.
            _items, last = self.graph.pages(
                f"{user_path(box)}/calendarView/delta?{window}", headers=self._prefer()
            )
            view_query = urlencode(
                {
                    "startDateTime": _iso(start),
                    "endDateTime": _iso(end),
                    "$expand": prop_expand(),
                    "$top": str(DELTA_PAGE),
                },
                quote_via=quote,
            )
            items, _ = self.graph.pages(f"{user_path(box)}/calendarView?{view_query}")
        except PageError as exc:
            raise _page_failure(organizer, exc.answer) from None
        keys: dict[str, str] = {}
        events = []
        for item in items:
            key = key_of(item)
            if key:
                keys[str(item["id"])] = key
                events.append(event_state(item, key))
        link = str(last.get("@odata.deltaLink", ""))
        return ChangeSet(tuple(events), _encode_cursor(link, start, end, keys), full=True)

    def _incremental(
        self, organizer: CalendarRef, state: dict[str, Any], start: datetime, end: datetime
    ) -> ChangeSet:
        keys: dict[str, str] = dict(state["keys"])
        items, last = self.graph.pages(state["delta"], headers=self._prefer())
        removed: list[str] = []
        changed: dict[str, Mapping[str, Any]] = {}
        for item in items:
            event_id = str(item.get("id"))
            if "@removed" in item:
                changed.pop(event_id, None)
                key = keys.pop(event_id, None)
                if key:
                    removed.append(key)
            else:
                changed[event_id] = item
        unknown = [i for i in changed if i not in keys]
        if unknown:
            keys.update(self._keys_of(organizer.calendar_id, unknown))
        events = [event_state(item, keys[i]) for i, item in changed.items() if i in keys]
        link = str(last.get("@odata.deltaLink", ""))
        return ChangeSet(
            tuple(events), _encode_cursor(link, start, end, keys), removed=tuple(removed)
        )

    def _keys_of(self, mailbox: str, event_ids: Sequence[str]) -> dict[str, str]:
        """Read the tag of events the cursor has not seen (delta answers omit it)."""
        query = urlencode({"$expand": prop_expand(), "$select": "id"}, quote_via=quote)
        parts = [
            Part(
                str(n),
                "GET",
                f"{user_path(mailbox)}/events/{quote(i, safe='')}?{query}",
                mailbox.lower(),
            )
            for n, i in enumerate(event_ids)
        ]
        answers = self.run(parts)
        out: dict[str, str] = {}
        for part, event_id in zip(parts, event_ids, strict=True):
            answer = answers[part.id]
            if answer.ok:
                key = key_of(answer.body or {})
                if key:
                    out[event_id] = key
            elif answer.status not in (404, 410):  # deleted meanwhile: the next delta says so
                raise TransientError(
                    f"cannot read event {event_id} of {mailbox}: {answer.error_text()}"
                )
        return out


# -- cursor -------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode_cursor(link: str, start: datetime, end: datetime, keys: Mapping[str, str]) -> str:
    # The id -> key map travels in the cursor: delta answers do not carry the tag, and
    # the connector keeps no state of its own between runs.
    return json.dumps(
        {"v": CURSOR_VERSION, "delta": link, "window": [_iso(start), _iso(end)], "keys": keys},
        separators=(",", ":"),
    )


def _decode_cursor(cursor: str | None, start: datetime, end: datetime) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        state = json.loads(cursor)
    except ValueError:
        return None
    if not isinstance(state, dict) or state.get("v") != CURSOR_VERSION:
        return None
    if not state.get("delta") or not isinstance(state.get("keys"), dict):
        return None
    if state.get("window") != [_iso(start), _iso(end)]:
        return None  # a delta token is bound to its window: another one needs a full read
    return state


def _sync_state_lost(answer: Answer) -> bool:
    if answer.status == 410:
        return True
    err = answer.body.get("error") if isinstance(answer.body, dict) else None
    code = str(err.get("code", "")) if isinstance(err, dict) else ""
    return code.lower() in ("syncstatenotfound", "syncstateinvalid", "resyncrequired")


def _page_failure(organizer: CalendarRef, answer: Answer) -> ConnectorError:
    text = f"calendar of {organizer.email} ({organizer.calendar_id}): {answer.error_text()}"
    if answer.status in (401, 403, 404):
        return ConnectorUserError(f"{text}: check the mailbox address and that the app may read it")
    return TransientError(text)
