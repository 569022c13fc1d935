"""Sending calls to Google with our own retries: single requests and batches.

The client library retries none of a batch's parts (only 401s), so throttled (429,
403 rate limits) and failed (5xx) parts are re-queued here, with exponential backoff
and jitter, never sooner than the largest `Retry-After` among them. A transport error
(reset connection, timeout, garbled multipart) re-sends the whole batch: every write
we batch is idempotent (inserts carry our event id, patches and deletes name it), so
a part that had already taken effect answers 409 duplicate / 410 the second time.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import google_auth_httplib2
import httplib2
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest

from connectors.base import observe_provider
from connectors.google.wire import ApiFailure, failure_from
from connectors.throttle import Gate

log = logging.getLogger(__name__)

#: Errors below the HTTP layer that are worth another try.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionResetError, TimeoutError, socket.timeout, refused
    socket.timeout,
    http.client.HTTPException,  # RemoteDisconnected, IncompleteRead
    httplib2.HttpLib2Error,
    BatchError,  # a cut-off multipart answer
)
#: ...and a multipart answer missing a part (KeyError inside the library).
BATCH_BROKEN: tuple[type[BaseException], ...] = (*TRANSPORT_ERRORS, KeyError)
#: Google batches take up to 1000 calls, but it asks for at most 50 for good latency.
BATCH_SIZE = 50
MAX_DELAY = 64.0


@dataclass
class Backoff:
    max_attempts: int = 6
    base_seconds: float = 1.0
    sleep: Callable[[float], None] = field(default=lambda _s: None)
    rng: random.Random = field(default_factory=random.Random)
    # Shared by every thread of one connector: a throttled answer slows them all.
    gate: Gate = field(default_factory=Gate)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential delay for retry `attempt` (0-based), at least
        `retry_after` when the server said so."""
        ceiling = min(MAX_DELAY, self.base_seconds * (2**attempt))
        jittered = self.rng.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after or 0.0)

    def wait(self, attempt: int, retry_after: float | None) -> None:
        observe_provider("google", "retry")
        seconds = self.delay(attempt, retry_after)
        log.debug("google: retrying in %.2fs (attempt %d)", seconds, attempt + 2)
        self.sleep(seconds)
        self.gate.served()


def _note_throttled(failures: list[ApiFailure], backoff: Backoff) -> None:
    """Answers that asked us to slow down (429, 403 rate limits): counted for the
    metrics, and every thread of this connector waits (`Retry-After`, else the
    first backoff step) before its next request."""
    for f in failures:
        if f.status == 429 or (f.status == 403 and f.retryable):
            observe_provider("google", "throttled")
            backoff.gate.hold(f.retry_after if f.retry_after is not None else backoff.base_seconds)


def _transport_failure(exc: BaseException) -> ApiFailure:
    return ApiFailure(0, type(exc).__name__, str(exc) or type(exc).__name__)


def from_http_error(exc: HttpError) -> ApiFailure:
    retry_after = exc.resp.get("retry-after") if exc.resp is not None else None
    return failure_from(int(exc.resp.status), exc.content, retry_after)


#: What a call returned: the decoded JSON answer, or why it failed.
Outcome = Any | ApiFailure


def execute(build: Callable[[], Any], http: Any, backoff: Backoff) -> Any:
    """One request with retries. Returns the answer or an ApiFailure (the last one
    when retries ran out; non-retryable failures come back at once)."""
    failure: ApiFailure | None = None
    for attempt in range(backoff.max_attempts):
        if attempt:
            backoff.wait(attempt - 1, failure.retry_after if failure else None)
        backoff.gate.wait(backoff.sleep)
        observe_provider("google", "request")
        try:
            return build().execute(http=http, num_retries=0)
        except HttpError as exc:
            failure = from_http_error(exc)
            _note_throttled([failure], backoff)
        except TRANSPORT_ERRORS as exc:
            failure = _transport_failure(exc)
        if not failure.retryable:
            return failure
    assert failure is not None
    return failure


def run_batch(
    requests: Mapping[str, Callable[[], Any]],
    http: Any,
    batch_uri: str,
    backoff: Backoff,
    on_attempt: Callable[[int], None] | None = None,
) -> dict[str, Outcome]:
    """Run `requests` (id -> request factory) in batches of BATCH_SIZE, re-queueing
    retryable parts. Every id gets an outcome; ids still failing after the last
    attempt keep their last (retryable) ApiFailure."""
    outcomes: dict[str, Outcome] = {}
    pending = list(requests)
    for attempt in range(backoff.max_attempts):
        if not pending:
            break
        if attempt:
            waits = [
                o.retry_after
                for k, o in outcomes.items()
                if k in pending and isinstance(o, ApiFailure)
            ]
            backoff.wait(attempt - 1, max((w for w in waits if w is not None), default=None))
        if on_attempt is not None:
            on_attempt(attempt)
        for group in [pending[i : i + BATCH_SIZE] for i in range(0, len(pending), BATCH_SIZE)]:
            outcomes.update(_send(group, requests, http, batch_uri, backoff))
        pending = [
            k for k in pending if isinstance(outcomes[k], ApiFailure) and outcomes[k].retryable
        ]
    return outcomes


def _signed_in(http: Any) -> None:
    """Refresh an expired token over our own transport before a batch.

    For a batch the client library refreshes over a bare `httplib2.Http()` of its
    own, which ignores the connector's `proxy`, `ca_bundle` and `timeout_seconds`
    and obeys proxy environment variables; with a valid token it only adds the
    header. Failures are the ones a single request's sign-in raises."""
    credentials = getattr(http, "credentials", None)
    if credentials is not None and not credentials.valid:
        credentials.refresh(google_auth_httplib2.Request(http.http))


def _send(
    ids: list[str],
    requests: Mapping[str, Callable[[], Any]],
    http: Any,
    batch_uri: str,
    backoff: Backoff,
) -> dict[str, Outcome]:
    answers: dict[str, Outcome] = {}

    def collect(request_id: str, response: Any, exception: Exception | None) -> None:
        if exception is None:
            answers[request_id] = response
        elif isinstance(exception, HttpError):
            answers[request_id] = from_http_error(exception)
        else:
            answers[request_id] = _transport_failure(exception)

    batch = BatchHttpRequest(callback=collect, batch_uri=batch_uri)
    for request_id in ids:
        batch.add(requests[request_id](), request_id=request_id)
    backoff.gate.wait(backoff.sleep)
    _signed_in(http)
    observe_provider("google", "request")
    try:
        batch.execute(http=http)
    except HttpError as exc:  # the batch request as a whole was refused
        failure = from_http_error(exc)
        _note_throttled([failure], backoff)
        return {k: failure for k in ids}
    except BATCH_BROKEN as exc:
        # KeyError: an answer missing a part. Nothing is known about any part.
        failure = _transport_failure(exc)
        return {k: answers.get(k, failure) for k in ids}
    _note_throttled([a for a in answers.values() if isinstance(a, ApiFailure)], backoff)
    missing = ApiFailure(0, "missingPart", "the batch answer lacked this part")
    return {k: answers.get(k, missing) for k in ids}
