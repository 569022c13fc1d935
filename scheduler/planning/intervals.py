"""Half-open integer intervals `[start, end)` in epoch minutes, and the few set
operations availability needs.

Minutes since the Unix epoch (UTC) are the planner's one time axis: every person's
local working hours, holidays and busy time are turned into it once, with the zone's
offset *of that date* (so DST is right), and everything after that is integer
arithmetic on sorted lists - no per-slot datetime work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

Interval = tuple[int, int]


def floor_minute(value: datetime) -> int:
    return math.floor(value.timestamp() / 60)


def ceil_minute(value: datetime) -> int:
    return math.ceil(value.timestamp() / 60)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union; touching intervals are joined, empty ones dropped."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two merged lists (two-pointer sweep)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """`a` minus `b`, both merged."""
    out: list[Interval] = []
    j = 0
    for start, end in a:
        cur = start
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            if cur >= end:
                break
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


def at_least(intervals: list[Interval], minutes: int) -> list[Interval]:
    """Only the intervals long enough to hold `minutes`."""
    return [(s, e) for s, e in intervals if e - s >= minutes]


def grid_starts(intervals: list[Interval], length: int, step: int, origin: int) -> list[int]:
    """Every start `origin + k*step` with `[start, start+length)` inside one interval."""
    out: list[int] = []
    for start, end in intervals:
        first = origin + -((origin - start) // step) * step  # ceil onto the grid
        last = end - length
        if first <= last:
            out.extend(range(first, last + 1, step))
    return out
