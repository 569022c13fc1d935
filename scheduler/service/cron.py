"""The previous firing of a cron schedule, for catching up missed runs.

APScheduler 3 only answers "the next firing at or after t". That answer is monotonic
in t, so the latest firing at or before `now` is found by bisection between a floor
and `now`: about 35 look-ups for any expression, a minutely schedule or a yearly one
alike (walking forward from a fixed look-back missed every schedule rarer than it).
Pure: time is a parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

_RESOLUTION = timedelta(seconds=1)  # cron firings fall on whole seconds


def previous_fire_time(trigger: CronTrigger, now: datetime, floor: datetime) -> datetime | None:
    """The latest firing in [floor, now], or None when there is none."""
    if floor > now:
        return None
    first = trigger.get_next_fire_time(None, floor)
    if first is None or first > now:
        return None
    # Invariant: the next firing from `lo` is at or before `now`; from `hi` it is not.
    lo, hi = floor, now + _RESOLUTION
    found: datetime = first
    while hi - lo > _RESOLUTION:
        mid = lo + (hi - lo) / 2
        nxt = trigger.get_next_fire_time(None, mid)
        if nxt is not None and nxt <= now:
            lo, found = mid, nxt
        else:
            hi = mid
    # `lo` is within a second of the last firing; the one at or after it is the answer.
    last = trigger.get_next_fire_time(None, lo)
    return last if last is not None and last <= now else found
