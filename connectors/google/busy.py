"""Free/busy of one group of calendars (at most 50) over one window, with re-asks.

A 200 answer can carry an error per calendar. Google's internalError/backendError
there are temporary: only those calendars are asked again, with backoff, until they
answer or the attempts run out. notFound and the other reasons are final at once.
A failure of the whole request is classified as before: throttling that outlived the
retries is a TransientError, a refusal (401/403) a ConnectorUserError, and anything
else fails every person of the group (unknown, never free).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from connectors.base import Busy, CalendarRef, ConnectorUserError, TransientError
from connectors.google.batch import Backoff, execute
from connectors.google.wire import (
    ApiFailure,
    freebusy_body,
    read_freebusy,
    temporary_failures,
)


@dataclass(frozen=True)
class FreeBusyReader:
    resource: Any  # the googleapiclient freebusy() resource
    backoff: Backoff
    asker: str  # who asks, as the messages name it (never a secret)

    def read(
        self, group: Sequence[CalendarRef], start: datetime, end: datetime, http: Any
    ) -> tuple[dict[str, list[Busy]], dict[str, str]]:
        """Busy intervals and errors, both by person id, for every calendar of `group`."""
        intervals: dict[str, list[Busy]] = {}
        errors: dict[str, str] = {}
        pending = list(group)
        attempts = self.backoff.max_attempts
        for attempt in range(attempts):
            if attempt:
                self.backoff.wait(attempt - 1, None)
            query = partial(self.resource.query, body=freebusy_body(pending, start, end))
            answer = execute(query, http, self.backoff)
            if isinstance(answer, ApiFailure):
                errors.update(self._refused(pending, answer))
                break
            found, failed = read_freebusy(answer, pending)
            again = temporary_failures(answer, pending) if attempt + 1 < attempts else []
            for ref in again:
                failed.pop(ref.person_id, None)
            intervals.update(found)
            errors.update(failed)
            pending = again
            if not pending:
                break
        return intervals, errors

    def _refused(self, group: Sequence[CalendarRef], failure: ApiFailure) -> dict[str, str]:
        if failure.retryable:
            raise TransientError(
                f"Google free/busy for {', '.join(c.person_id for c in group)} "
                f"kept failing: {failure.describe()}"
            )
        if failure.status in (401, 403):
            raise ConnectorUserError(
                f"Google refused free/busy for {self.asker}: "
                f"{failure.describe()}; check the calendar.freebusy scope"
            )
        return {
            ref.person_id: (
                f"Google free/busy failed for {ref.person_id} <{ref.email}>: {failure.describe()}"
            )
            for ref in group
        }
