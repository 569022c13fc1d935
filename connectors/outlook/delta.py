"""Incremental reads of an organiser's calendar: `calendarView/delta`.

The first read (or one after the delta token expired, 410 / syncStateNotFound) walks
the delta pages to their `@odata.deltaLink` and reads the window once through
`calendarView` with our tag expanded, because delta answers carry no extended
properties. The cursor handed out holds the deltaLink, the window and the map of
event id -> session key, so a later read needs no look-up for events it knows and
names removed events by key: a reconcile with no change is one request, and so is
a first read of a calendar with at most DELTA_PAGE events in the window (the first
delta page and the first view page share one `$batch`).
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
from connectors.outlook.events import event_state, key_of, prop_expand, user_path
from connectors.outlook.http import UTC_PREFER, Answer, GraphHttp, PageError, Part

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
        window = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        delta_url = f"{user_path(box)}/calendarView/delta?{urlencode(window, quote_via=quote)}"
        view_query = urlencode(
            {**window, "$expand": prop_expand(), "$top": str(DELTA_PAGE)}, quote_via=quote
        )
        view_url = f"{user_path(box)}/calendarView?{view_query}"
        # The delta read only yields the token; its items carry no extended
        # properties, so the keys come from a calendarView with the tag expanded. Both
        # first pages go in one `$batch`, the view run after the delta page (`after`):
        # read before the token, a change between the two would be in neither this
        # read nor the next delta.
        first = self.run(
            [
                Part("delta", "GET", delta_url, box.lower(), headers=self._prefer()),
                Part("view", "GET", view_url, box.lower(), after="delta"),
            ]
        )
        last, view = first["delta"], first["view"]
        try:
            if not last.ok:
                raise PageError(last)
            page = last.body or {}
            if page.get("@odata.nextLink"):
                # A longer delta round: its token may stand for the state at its last
                # page, so the view is read again once the round is done.
                _items, page = self.graph.pages(page["@odata.nextLink"], headers=self._prefer())
                items, _ = self.graph.pages(view_url)
            else:
                if not view.ok:
                    raise PageError(view)
                items = list((view.body or {}).get("value", []))
                more = (view.body or {}).get("@odata.nextLink")
                if more:
                    items += self.graph.pages(more)[0]
        except PageError as exc:
            raise _page_failure(organizer, exc.answer) from None
        keys: dict[str, str] = {}
        events = []
        for item in items:
            key = key_of(item)
            if key:
                keys[str(item["id"])] = key
                events.append(event_state(item, key))
        link = str(page.get("@odata.deltaLink", ""))
        return ChangeSet(tuple(events), _encode_cursor(link, start, end, keys), full=True)

    def _incremental(
        self, organizer: CalendarRef, state: dict[str, Any], start: datetime, end: datetime
    ) -> ChangeSet:
        keys: dict[str, str] = dict(state["keys"])
        items, last = self.graph.pages(state["delta"], headers=self._prefer())
        gone: list[str] = []  # ids of our events that left the window
        changed: dict[str, Mapping[str, Any]] = {}
        for item in items:
            event_id = str(item.get("id"))
            if "@removed" in item:
                changed.pop(event_id, None)
                if event_id in keys:
                    gone.append(event_id)
            else:
                changed[event_id] = item
                if event_id in gone:
                    gone.remove(event_id)
        unknown = [i for i in changed if i not in keys]
        if unknown:
            found = self._get(organizer.calendar_id, unknown, expand=True)
            keys.update({i: k for i, item in found.items() if item and (k := key_of(item))})
        removed: list[str] = []
        if gone:
            # `@removed` also means "moved out of the window": only a 404 is a deletion.
            still = self._get(organizer.calendar_id, gone, expand=False)
            for event_id in gone:
                moved = still[event_id]
                if moved is None or moved.get("isCancelled"):
                    removed.append(keys.pop(event_id))
                else:
                    changed[event_id] = moved
        events = [event_state(item, keys[i]) for i, item in changed.items() if i in keys]
        link = str(last.get("@odata.deltaLink", ""))
        return ChangeSet(
            tuple(events), _encode_cursor(link, start, end, keys), removed=tuple(removed)
        )

    def _get(
        self, mailbox: str, event_ids: Sequence[str], *, expand: bool
    ) -> dict[str, Mapping[str, Any] | None]:
        """Events by id (None: deleted); with our tag expanded when asked, because
        delta answers omit it for events the cursor has not seen yet."""
        query = urlencode({"$expand": prop_expand()}, quote_via=quote) if expand else ""
        parts = [
            Part(
                str(n),
                "GET",
                f"{user_path(mailbox)}/events/{quote(i, safe='')}" + (f"?{query}" if query else ""),
                mailbox.lower(),
            )
            for n, i in enumerate(event_ids)
        ]
        answers = self.run(parts)
        out: dict[str, Mapping[str, Any] | None] = {}
        for part, event_id in zip(parts, event_ids, strict=True):
            answer = answers[part.id]
            if answer.ok:
                out[event_id] = answer.body or {}
            elif answer.status in (404, 410):
                out[event_id] = None
            else:
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
