"""HTTP to a CalDAV server: basic auth, retries, throttling.

What it guarantees to the connector above:

- 429 and 503 honour `Retry-After` (seconds or an HTTP date), capped so a hostile
  value cannot stall a run for hours; other transient faults (500/502/504, lost
  connections, timeouts) back off exponentially with jitter.
- Only safe requests are resent when their fate is unknown. Everything the connector
  sends is safe by construction: reads, `PUT` with `If-None-Match: *` (a replay
  answers 412) and `PUT` with `If-Match` (a replay answers 412). The flag stays so a
  future unsafe request cannot be retried by accident. A 429 was not executed, so
  even an unsafe request may be resent after it.
- A 401 becomes an `AuthError` naming the server, the user and where the password
  comes from; never the password.
- `lost_attempts` on an answer says an earlier attempt of the same request got no
  answer: the caller can tell "created by our lost attempt" from "was there before".
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from connectors.base import AuthError
from connectors.caldav.protocol import origin_of

_TRANSIENT = {500, 502, 503, 504}
_THROTTLED = {429, 503}
#: A longer Retry-After is capped: the next run (minutes later) is the better retry.
MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True)
class DavAnswer:
    status: int  # 0 when no answer arrived
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    lost_attempts: int = 0  # earlier attempts of this request that got no answer

    @property
    def lost(self) -> bool:
        return self.status == 0

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    def describe(self) -> str:
        return "no answer (connection lost or timed out)" if self.lost else f"HTTP {self.status}"


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class DavHttp:
    def __init__(
        self,
        client: httpx.Client,
        *,
        username: str,
        secret_source: str,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.username = username
        self.secret_source = secret_source  # "environment variable X": names, never values
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.sent = 0  # requests sent, for benchmarks and tests

    def delay(self, attempt: int, answer: DavAnswer) -> float:
        if answer.status in _THROTTLED:
            hinted = retry_after(answer.headers)
            if hinted is not None:
                return min(hinted, MAX_RETRY_AFTER)
        base = self.backoff_seconds * (2**attempt)
        return float(min(60.0, base * (0.5 + self.rng.random())))

    def _once(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> DavAnswer:
        self.sent += 1
        try:
            resp = self.client.request(method, url, content=body, headers=dict(headers))
        except httpx.TransportError:
            return DavAnswer(0)
        return DavAnswer(
            resp.status_code, resp.content, {k.lower(): v for k, v in resp.headers.items()}
        )

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        safe: bool = True,
    ) -> DavAnswer:
        """One request with retries. Every status is returned (the caller decides what a
        404 or 412 means) except 401, which raises `AuthError`."""
        sent_headers = {"Content-Type": "application/xml; charset=utf-8"} if body else {}
        sent_headers.update(headers or {})
        lost = 0
        answer = DavAnswer(0)
        for attempt in range(self.max_attempts):
            answer = self._once(method, url, body, sent_headers)
            if answer.status == 401:
                raise AuthError(
                    f"CalDAV server {origin_of(url)} refused the login of user "
                    f"{self.username!r} (HTTP 401): check the user name and the password "
                    f"in {self.secret_source}"
                )
            retry = answer.status == 429 or (safe and (answer.lost or answer.status in _TRANSIENT))
            if not retry:
                break
            if attempt + 1 < self.max_attempts:
                self.sleep(self.delay(attempt, answer))
            if answer.lost:
                lost += 1
        return DavAnswer(answer.status, answer.body, answer.headers, lost)
