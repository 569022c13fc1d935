"""HTTP to Microsoft Graph: retries, throttling, paging and `$batch`.

What it guarantees to the connector above:

- 429 and 503 honour `Retry-After`; other transient faults back off exponentially
  with jitter (`Retry-After` in seconds or as an HTTP date); a 401 renews the token
  once per call, whichever attempt it comes on (a long throttling wait can outlast
  the token).
- A request that is not idempotent (creating an event) is never resent when its
  fate is unknown (connection lost, timeout, 5xx): the part comes back `lost=True`
  and the caller looks its idempotency tag up before deciding. Throttled (429) and
  failed-dependency (424) parts were not executed, so they are resent as they are.
- `$batch`: at most 20 parts per call; answers come in any order and are matched by
  id. Outlook runs at most 4 requests per mailbox at once, so a mailbox's parts
  beyond its first 4 wait for an earlier part of the *same* mailbox (`dependsOn`):
  four lanes per mailbox, never a dependency across mailboxes. A part whose
  dependency failed answers 424 and is resent; one throttled part therefore delays
  only its own lane, never the other mailboxes' parts (one chain through the whole
  batch failed every later part of every mailbox).
- A part may also name an earlier part it must run after (`Part.after`: a delta
  token before the read it guards): `dependsOn` when both are in one batch, else a
  later batch. If that part failed for good, the waiting part keeps its 424.
- Every `@odata.nextLink` page is read.
- Shared by booking's I/O pool: a 429 (of a request or of a `$batch` part) holds
  back every thread's next request for its `Retry-After` (`connectors/throttle.py`).
  The lanes above hold under the pool because booking hands one organiser's work to
  one worker at a time: a mailbox's parts are never in two batches in flight.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.base import AuthError, TransientError, observe_provider
from connectors.throttle import Gate

BATCH_LIMIT = 20
MAILBOX_CONCURRENCY = 4
UTC_PREFER = 'outlook.timezone="UTC"'
_TRANSIENT = {429, 500, 502, 503, 504}
_NOT_EXECUTED = {429, 424}  # safe to resend even a create


@dataclass(frozen=True)
class Part:
    """One request of a batch. `url` is relative to the endpoint: `/users/x/events`."""

    id: str
    method: str
    url: str
    mailbox: str
    body: Any = None
    idempotent: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    # The id of an earlier part of the same call that must have run before this one
    # starts (not merely be sent first: Graph runs a batch's parts in any order).
    after: str | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    lost: bool = False  # fate unknown: the request may or may not have been executed

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.lost

    def error_text(self) -> str:
        if self.lost:
            return "no answer from Microsoft Graph (connection lost or timed out)"
        err = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(err, dict):
            return f"HTTP {self.status} {err.get('code', '')}: {err.get('message', '')}".strip()
        return f"HTTP {self.status}"


class GraphHttp:
    def __init__(
        self,
        http: httpx.Client,
        endpoint: str,
        token: Callable[[], str],
        *,
        max_attempts: int = 6,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        renew: Callable[[], None] | None = None,
    ) -> None:
        self.http = http
        self.clock = clock  # for Retry-After given as an HTTP date
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self._renew = renew  # makes the token source forget a token Graph refused
        self._bearer: str | None = None
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.sent: Counter[str] = Counter()  # requests sent, for diagnostics
        # Graph's json-batching page shows batches mixing parts with and without
        # `dependsOn`, but older tenants answered such a batch 400 ("Batch should be
        # either fully sequential or fully parallel"). After one such refusal the
        # lanes are sent as separate batches instead (no dependsOn at all).
        self.flat_batches = False
        # Shared by every thread using this connector: a 429 seen by one worker
        # holds back the next request of all of them (see connectors/throttle.py).
        self.gate = Gate()

    # -- single requests ------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        if self._bearer is None:
            self._bearer = self._token()
        headers = {"Authorization": f"Bearer {self._bearer}", "Prefer": UTC_PREFER}
        headers.update(extra or {})
        return headers

    def _once(self, method: str, url: str, body: Any, headers: Mapping[str, str] | None) -> Answer:
        full = url if url.startswith("http") else self.endpoint + url
        self.sent["http"] += 1
        observe_provider("outlook", "request")
        extra = dict(headers or {})
        content: bytes | None = None
        if isinstance(body, bytes):  # already encoded (sendMail's MIME): headers say how
            content = body
        elif body is not None:
            content = json.dumps(body).encode()
            extra.setdefault("Content-Type", "application/json")
        self.gate.wait(self.sleep)
        try:
            resp = self.http.request(method, full, headers=self._headers(extra), content=content)
        except httpx.TransportError:
            return Answer(0, lost=True)
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = None
        if resp.status_code == 401:
            self._bearer = None  # expired or revoked: the next attempt asks msal again
        answer = Answer(resp.status_code, payload, dict(resp.headers))
        self.slow_down([answer])
        return answer

    def slow_down(self, answers: Sequence[Answer]) -> None:
        """Throttled answers (429) hold every thread back: their `Retry-After`, or
        the first backoff step without one."""
        now = None
        for answer in answers:
            if answer.status != 429:
                continue
            now = now or self.clock()
            hinted = _retry_after(answer.headers, now)
            self.gate.hold(self.backoff_seconds if hinted is None else hinted)

    def delay(self, attempt: int, answers: Sequence[Answer] = ()) -> float:
        """Retry-After when Graph gave one (the largest), else backoff with jitter."""
        observe_provider("outlook", "retry")
        for _ in (a for a in answers if a.status == 429):
            observe_provider("outlook", "throttled")
        now = self.clock()
        hinted = [_retry_after(a.headers, now) for a in answers]
        given = [h for h in hinted if h is not None]
        if given:
            return max(given)
        base = self.backoff_seconds * (2**attempt)
        return float(min(60.0, base * (0.5 + self.rng.random())))

    def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> Answer:
        """One request with retries; a 4xx other than 401/429 is returned, not raised."""
        renewed = False
        attempt = 0
        while True:
            answer = self._once(method, url, body, headers)
            if answer.status == 401:
                if renewed:
                    raise AuthError(
                        "Microsoft Graph refused the token (401): check the app's permissions "
                        "and admin consent"
                    )
                # Ask again at once with a new token. Tracked per call, not tied to the
                # first attempt (a long Retry-After can outlast the token), and not
                # counted as an attempt.
                renewed = True
                if self._renew is not None:
                    self._renew()
                continue
            retry = answer.status in _NOT_EXECUTED or (
                idempotent and (answer.lost or answer.status in _TRANSIENT)
            )
            if not retry or attempt + 1 >= self.max_attempts:
                return answer
            self.sleep(self.delay(attempt, [answer]))
            self.gate.served()
            attempt += 1

    def call_ok(self, method: str, url: str, body: Any = None, **kw: Any) -> Answer:
        """`call`, raising TransientError when Graph kept failing."""
        answer = self.call(method, url, body, **kw)
        if answer.lost or answer.status in _TRANSIENT:
            raise TransientError(f"Microsoft Graph {method} failed: {answer.error_text()}")
        return answer

    def pages(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every item of every page, and the last page (for its deltaLink)."""
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        last: dict[str, Any] = {}
        while next_url:
            answer = self.call("GET", next_url, headers=headers)
            if not answer.ok:
                raise PageError(answer)
            last = answer.body or {}
            items.extend(last.get("value", []))
            next_url = last.get("@odata.nextLink")
        return items, last

    # -- $batch ---------------------------------------------------------------------

    def batch(self, parts: Sequence[Part]) -> dict[str, Answer]:
        """Run `parts`, resending what may be resent; every id gets an answer."""
        done: dict[str, Answer] = {}
        todo = list(parts)
        for attempt in range(self.max_attempts):
            if not todo:
                break
            again: list[Part] = []
            for chunk in _chunks(todo, flat=self.flat_batches):
                for part, answer in self._send_chunk(chunk):
                    done[part.id] = answer
                    resend = answer.status in _NOT_EXECUTED or (
                        part.idempotent and (answer.lost or answer.status in _TRANSIENT)
                    )
                    if resend:
                        again.append(part)
            # A part that waited for one of its own (`after`) that failed for good
            # keeps its 424: run alone, it would no longer come after it.
            going = {p.id for p in again}
            again = [
                p
                for p in again
                if not (p.after in done and p.after not in going and done[p.id].status == 424)
            ]
            waits = [done[p.id] for p in again]
            todo = again
            self.slow_down(waits)
            if todo and attempt + 1 < self.max_attempts:
                self.sleep(self.delay(attempt, waits))
                self.gate.served()
        return done

    def _send_chunk(self, chunk: Sequence[Part]) -> list[tuple[Part, Answer]]:
        after = {} if self.flat_batches else depends_on(chunk)
        answers, outer = self._send_batch(chunk, after)
        if not (after and outer == 400):
            return answers
        # The whole batch refused before any part ran (a 400 is a validation
        # answer): send the lanes as batches of their own, never mixed.
        self.flat_batches = True
        out: list[tuple[Part, Answer]] = []
        for flat in _chunks(chunk, flat=True):
            out.extend(self._send_batch(flat, {})[0])
        return out

    def _send_batch(
        self, chunk: Sequence[Part], after: Mapping[str, Sequence[str]]
    ) -> tuple[list[tuple[Part, Answer]], int]:
        """The parts' answers, and the status of the batch request itself."""
        requests = []
        for part in chunk:
            req: dict[str, Any] = {"id": part.id, "method": part.method, "url": part.url}
            # The batch's own headers do not reach its parts: each carries its own.
            headers = {"Prefer": UTC_PREFER, **part.headers}
            if part.body is not None:
                req["body"] = part.body
                headers.setdefault("Content-Type", "application/json")
            req["headers"] = headers
            if part.id in after:
                req["dependsOn"] = list(after[part.id])
            requests.append(req)
        outer = self.call("POST", "/$batch", {"requests": requests}, idempotent=False)
        if not outer.ok:
            # Nothing usable came back: every part shares the batch's fate.
            fate = Answer(outer.status, outer.body, outer.headers, outer.lost)
            return [(p, fate) for p in chunk], outer.status
        by_id = {str(r.get("id")): r for r in (outer.body or {}).get("responses", [])}
        out: list[tuple[Part, Answer]] = []
        for part in chunk:
            r = by_id.get(part.id)
            if r is None:  # Graph must answer every id; treat a gap as unknown fate
                out.append((part, Answer(0, lost=True)))
            else:
                status = int(r.get("status", 0))
                out.append((part, Answer(status, r.get("body"), r.get("headers") or {})))
        return out, outer.status


class PageError(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.error_text())
        self.answer = answer


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait: `Retry-After` is delay-seconds or an HTTP date (RFC 9110)."""
    for k, v in headers.items():
        if k.lower() != "retry-after":
            continue
        try:
            return max(0.0, float(v))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(v)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": the date is in UTC, origin unknown
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return None


def lanes(chunk: Sequence[Part]) -> dict[str, str]:
    """Part id -> the id it must wait for: the 5th part of a mailbox waits for its
    1st, the 6th for its 2nd, and so on. At most MAILBOX_CONCURRENCY parts of one
    mailbox run at once, and a failure holds up only the parts of its own lane."""
    seen: dict[str, list[str]] = {}
    after: dict[str, str] = {}
    for part in chunk:
        box = seen.setdefault(part.mailbox, [])
        if len(box) >= MAILBOX_CONCURRENCY:
            after[part.id] = box[-MAILBOX_CONCURRENCY]
        box.append(part.id)
    return after


def depends_on(chunk: Sequence[Part]) -> dict[str, list[str]]:
    """Part id -> the ids it waits for in this batch: its mailbox lane (`lanes`) and
    the part it must come after (`Part.after`), when that one is in the batch too (one
    in an earlier batch has run already: batches go one after another)."""
    ids = {p.id for p in chunk}
    out = {waiter: [first] for waiter, first in lanes(chunk).items()}
    for part in chunk:
        if part.after in ids and part.after not in out.get(part.id, []):
            out.setdefault(part.id, []).append(part.after)
    return out


def _chunks(parts: Sequence[Part], *, flat: bool = False) -> list[list[Part]]:
    """Batches of at most BATCH_LIMIT parts, in order; `flat`: also at most
    MAILBOX_CONCURRENCY parts of one mailbox each, and a part never in the batch of
    the part it must come after (a later one), so no part waits for another."""
    if not flat:
        return [list(parts[i : i + BATCH_LIMIT]) for i in range(0, len(parts), BATCH_LIMIT)]
    out: list[list[Part]] = []
    placed: dict[str, int] = {}  # part id -> its batch
    for part in parts:
        first = placed[part.after] + 1 if part.after in placed else 0
        for n in range(first, len(out)):
            chunk = out[n]
            same = sum(1 for p in chunk if p.mailbox == part.mailbox)
            if len(chunk) < BATCH_LIMIT and same < MAILBOX_CONCURRENCY:
                chunk.append(part)
                placed[part.id] = n
                break
        else:
            out.append([part])
            placed[part.id] = len(out) - 1
    return out
