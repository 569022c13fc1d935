"""Fault injection for the fake Graph: throttling, server errors, resets, slowness.

A test either queues exact faults for the next calls (`queue` for whole HTTP calls,
`part_queue` for `$batch` parts; "none" lets one through), or sets a `rate` at which
a seeded random generator picks one of `kinds` per call. Top-level HTTP calls
and the parts of a `$batch` both draw from it; `reset` and `slow` only make sense for
a whole HTTP call, so parts turn them into 503. "401" (queued only) answers as
Graph does when the access token expired, and forgets that token so the client must
get a new one.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

KINDS = ("429", "503", "reset", "slow")


@dataclass
class FaultPlan:
    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    retry_after: str = "1"
    slow_seconds: float = 0.5
    seed: int = 1
    queue: list[str] = field(default_factory=list)
    part_queue: list[str] = field(default_factory=list)
    injected: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random | None = None

    def draw(self, *, part: bool = False) -> str | None:
        with self._lock:
            if self._rng is None:
                self._rng = random.Random(self.seed)
            kind: str | None = None
            queue = self.part_queue if part else self.queue
            if queue:
                kind = queue.pop(0)
            elif self.rate and self._rng.random() < self.rate:
                kind = self._rng.choice(self.kinds)
            if kind is None or kind == "none":
                return None
            if part and kind in ("reset", "slow", "401"):
                kind = "503"
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind

    def cut_point(self) -> int:
        """How many parts of a batch run before a reset breaks it (0..19)."""
        with self._lock:
            if self._rng is None:
                self._rng = random.Random(self.seed)
            return self._rng.randrange(20)

    def clear(self) -> None:
        with self._lock:
            self.rate = 0.0
            self.queue.clear()
            self.part_queue.clear()
