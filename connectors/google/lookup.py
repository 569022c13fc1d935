"""Looking sessions up by key: `events.get` with the key as the event id.

The session key is the event id Coachpass chose at insert, so an event is found
wherever it now lies, even months outside any read window. Google's `get` also
returns deleted events (status "cancelled", until they are purged): both that and a
404/410 mean the session is really gone. Anything else (throttling that outlived
the retries, a refused call) means nothing can be told, and says so per key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from connectors.base import CalendarRef, EventState, Lookup
from connectors.google.batch import Backoff, run_batch
from connectors.google.wire import ApiFailure, event_state, tag_of, valid_event_id


@dataclass(frozen=True)
class KeyLookup:
    events: Any  # the googleapiclient events() resource
    batch_uri: str
    backoff: Backoff

    def lookup(self, organizer: CalendarRef, keys: Sequence[str], http: Any) -> Lookup:
        found: dict[str, EventState | None] = {}
        errors: dict[str, str] = {}
        fetch: dict[str, Callable[[], Any]] = {}
        for key in dict.fromkeys(keys):
            if not valid_event_id(key):
                errors[key] = f"session key {key!r} is not a valid Google event id"
                continue
            fetch[key] = partial(self.events.get, calendarId=organizer.calendar_id, eventId=key)
        who = f"{organizer.person_id} <{organizer.email}>"
        for key, item in run_batch(fetch, http, self.batch_uri, self.backoff).items():
            if isinstance(item, ApiFailure):
                if item.status in (404, 410):
                    found[key] = None
                else:
                    errors[key] = (
                        f"Google could not look up session {key} in the calendar of {who}: "
                        f"{item.describe()}"
                    )
                continue
            if tag_of(item) != key:
                # The id is taken by an event we did not tag: not ours, and not a
                # proof that ours is gone either.
                errors[key] = (
                    f"event id {key} in the calendar of {who} belongs to an event "
                    "Coachpass did not create"
                )
                continue
            state = event_state(item, organizer.timezone)
            found[key] = None if state is None or state.cancelled else state
        return Lookup(found, errors)
