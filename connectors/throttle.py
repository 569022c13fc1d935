"""One provider's "slow down", shared by every thread that talks to it.

When booking serves organisers on several threads, a 429 (or Google's rate-limit
403) seen by one worker means the provider wants fewer requests from this client,
not only from that worker: the others would keep the rate up and be throttled in
turn. So the answer's `Retry-After` (or, without one, the first backoff step) is
recorded here, and every request of every thread waits until it has passed before
it goes out. The worker that was throttled also backs off as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Gate:
    """`hold(seconds)` closes the gate for everyone until then; `wait` blocks a
    caller while it is closed. Time comes from `clock`; the wait goes through the
    caller's `sleep` (tests record it instead of waiting)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open_at = 0.0
        self._served = threading.local()  # up to when this thread has waited already
        self.holds = 0  # how often a throttled answer closed it (diagnostics)

    def hold(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._open_at = max(self._open_at, self._clock() + seconds)
            self.holds += 1

    def served(self) -> None:
        """The calling thread has just backed off for the hold it caused (its own
        retry waits at least the `Retry-After`): it does not wait a second time."""
        with self._lock:
            self._served.until = self._open_at

    def wait(self, sleep: Callable[[float], None]) -> None:
        """Sleep once for what is left of a hold: one sleep, never a loop, so a
        recorded sleep in tests cannot spin."""
        with self._lock:
            if getattr(self._served, "until", 0.0) >= self._open_at:
                return
            left = self._open_at - self._clock()
            self._served.until = self._open_at
        if left > 0:
            sleep(left)
