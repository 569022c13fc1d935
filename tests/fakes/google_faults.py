"""Fault injection for the fake Google Calendar API, configurable per test.

Two kinds: a random share of calls (top-level requests and batch parts alike) that
fail with one of Google's throttling/server errors, drawn from a seeded RNG so a
failing run can be replayed; and scripted faults that hit the next matching calls.
Connection resets happen in the middle of a batch: the fake runs the first half of
the parts (so those writes *took effect*) and then drops the connection without an
answer, which is exactly the case where a client that retries creates duplicates.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    status: int
    reason: str
    message: str = "fault injected by the fake"
    retry_after: int | None = None  # seconds, sent as a Retry-After header


RATE_LIMIT_429 = Fault(429, "rateLimitExceeded", "Rate Limit Exceeded", retry_after=1)
BACKEND_503 = Fault(503, "backendError", "Backend Error")
RATE_LIMIT_403 = Fault(403, "rateLimitExceeded", "Rate Limit Exceeded")
USER_RATE_LIMIT_403 = Fault(403, "userRateLimitExceeded", "User Rate Limit Exceeded")
THROTTLING = (RATE_LIMIT_429, BACKEND_503, RATE_LIMIT_403, USER_RATE_LIMIT_403)


@dataclass
class _Scripted:
    fault: Fault | None  # None: a connection reset
    match: str  # substring of "METHOD /path"
    remaining: int
    seconds: float = 0.0


@dataclass
class FaultPlan:
    """Per-test fault settings; change the fields freely between calls."""

    rate: float = 0.0  # share of calls answered with a fault from `kinds`
    kinds: tuple[Fault, ...] = THROTTLING
    reset_batches: bool = False  # drop the connection once in the middle of each batch
    slow_seconds: float = 0.0  # delay before answering (for client timeouts)
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _scripted: list[_Scripted] = field(default_factory=list, init=False, repr=False)
    _slow: list[_Scripted] = field(default_factory=list, init=False, repr=False)
    _reset_done: set[tuple[str, ...]] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    injected: int = field(default=0, init=False)
    resets: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def fail_next(self, fault: Fault, *, match: str = "", times: int = 1) -> None:
        """The next `times` calls whose "METHOD /path" contains `match` get `fault`."""
        with self._lock:
            self._scripted.append(_Scripted(fault, match, times))

    def reset_next_batch(self, *, match: str = "/batch/", times: int = 1) -> None:
        with self._lock:
            self._scripted.append(_Scripted(None, match, times))

    def slow_next(self, seconds: float, *, match: str = "", times: int = 1) -> None:
        """Delay the answer to the next `times` matching calls (client timeouts)."""
        with self._lock:
            self._slow.append(_Scripted(None, match, times, seconds))

    def delay_for(self, call: str) -> float:
        with self._lock:
            for item in self._slow:
                if item.match in call and item.remaining > 0:
                    item.remaining -= 1
                    return item.seconds
        return self.slow_seconds

    def _take_scripted(self, call: str, *, reset: bool) -> _Scripted | None:
        for item in self._scripted:
            if (item.fault is None) == reset and item.match in call and item.remaining > 0:
                item.remaining -= 1
                return item
        return None

    def fault_for(self, call: str) -> Fault | None:
        """The fault to answer `call` ("METHOD /path") with, or None to serve it."""
        with self._lock:
            scripted = self._take_scripted(call, reset=False)
            if scripted is not None:
                self.injected += 1
                return scripted.fault
            if self.rate and self._rng.random() < self.rate:
                self.injected += 1
                return self._rng.choice(self.kinds)
            return None

    def reset_after(self, call: str, parts: tuple[str, ...]) -> int | None:
        """How many parts of this batch to run before dropping the connection."""
        with self._lock:
            if self._take_scripted(call, reset=True) is not None or (
                self.reset_batches and parts not in self._reset_done
            ):
                self._reset_done.add(parts)
                self.resets += 1
                return len(parts) // 2
            return None
