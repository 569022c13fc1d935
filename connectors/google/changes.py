"""Reading an organiser's calendar for changes: sync token, every page, 410 -> full.

Both kinds of read pass the same parameters (singleEvents, showDeleted) because
Google wants them unchanged for a sync token's whole life and refuses showDeleted=false
with one; the window (timeMin/timeMax) and the tag filter cannot go with a sync token,
so our events are picked out here by their tag. showDeleted=true also makes Google keep
the details (tag, times) of cancelled events on the organiser's calendar, so a
cancellation costs no extra read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from connectors.base import CalendarRef, ChangeSet, ConnectorUserError, EventState, TransientError
from connectors.google.batch import Backoff, execute, run_batch
from connectors.google.wire import ApiFailure, event_state, is_skinny, rfc3339


@dataclass(frozen=True)
class ChangeReader:
    events: Any  # the googleapiclient events() resource
    batch_uri: str
    backoff: Backoff
    page_size: int

    def read(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime, http: Any
    ) -> ChangeSet:
        items: list[dict[str, Any]] | None = None
        next_cursor = ""
        if cursor:
            got = self._list_all(organizer, {"syncToken": cursor}, http)
            if isinstance(got, ApiFailure):
                # 410: the token expired; 400: not a token Google knows. Both: start over.
                if got.status not in (400, 410):
                    raise list_error(organizer, got)
            else:
                items, next_cursor = got
        full = items is None
        if items is None:
            window = {"timeMin": rfc3339(start), "timeMax": rfc3339(end)}
            got = self._list_all(organizer, window, http)
            if isinstance(got, ApiFailure):
                raise list_error(organizer, got)
            items, next_cursor = got
        states: list[EventState] = []
        skinny: list[str] = []
        for item in items:
            if is_skinny(item):
                skinny.append(str(item["id"]))
                continue
            state = event_state(item, organizer.timezone)
            if state is not None:
                states.append(state)
        found, removed = self._deleted(organizer, skinny, http)
        return ChangeSet(tuple(states + found), next_cursor, full=full, removed=tuple(removed))

    def _deleted(
        self, organizer: CalendarRef, ids: list[str], http: Any
    ) -> tuple[list[EventState], list[str]]:
        """Deleted events that come back as little more than an id (Google only
        promises the id): read them whole (get returns deleted events) to know
        whether they were ours."""
        fetch = {
            event_id: partial(self.events.get, calendarId=organizer.calendar_id, eventId=event_id)
            for event_id in ids
        }
        states: list[EventState] = []
        removed: list[str] = []
        for event_id, item in run_batch(fetch, http, self.batch_uri, self.backoff).items():
            if isinstance(item, ApiFailure):
                if item.status not in (404, 410):
                    raise list_error(organizer, item)
                removed.append(event_id)  # gone entirely: the caller matches ids it knows
                continue
            state = event_state(item, organizer.timezone)
            if state is not None:
                states.append(state)
        return states, removed

    def _list_all(
        self, organizer: CalendarRef, params: dict[str, Any], http: Any
    ) -> tuple[list[dict[str, Any]], str] | ApiFailure:
        """Every page of events.list. pageToken is passed by hand (list_next breaks on
        repeated parameters); a dropped page would be a double booking later."""
        items: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            query = partial(
                self.events.list,
                calendarId=organizer.calendar_id,
                singleEvents=True,
                showDeleted=True,
                maxResults=self.page_size,
                **params,
                **({"pageToken": page} if page else {}),
            )
            answer = execute(query, http, self.backoff)
            if isinstance(answer, ApiFailure):
                return answer
            items.extend(answer.get("items", []))
            page = answer.get("nextPageToken")
            if not page:
                return items, str(answer.get("nextSyncToken", ""))


def list_error(organizer: CalendarRef, failure: ApiFailure) -> Exception:
    text = (
        f"Google could not list the calendar of {organizer.person_id} <{organizer.email}> "
        f"(calendar {organizer.calendar_id}): {failure.describe()}"
    )
    if failure.retryable:
        return TransientError(text)
    return ConnectorUserError(text)
