"""The previous firing of a cron schedule, for catching up missed runs.

APScheduler 3 only answers "the next firing at or after t". That answer is monotonic
in t, so the latest firing at or before `now` is found by bisection between a floor
and `now`: about 35 look-ups for any expression, a minutely schedule or a yearly one
alike (walking forward from a fixed look-back missed every schedule rarer than it).
Pure: time is a parameter.

`crontab_trigger` also fixes a trap: APScheduler 3 reads the day-of-week field with
0 = Monday, so a standard `0 7 * * 1-5` ("weekday mornings") fired Tuesday to
Saturday. The field is translated to day names, which mean the same in both.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

_RESOLUTION = timedelta(seconds=1)  # cron firings fall on whole seconds
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # standard cron: 0 and 7 = Sunday


def _day(token: str) -> int:
    token = token.strip().lower()
    if token[:3] in _DAYS and not token.isdigit():
        return _DAYS.index(token[:3])
    value = int(token)
    if not 0 <= value <= 7:
        raise ValueError(f"day of week {token!r} is not 0..7")
    return value


def standard_days(field: str) -> str:
    """A crontab day-of-week field (0/7 = Sunday, ranges, lists, steps, names) as
    the day names APScheduler reads the same way, e.g. "1-5" -> "mon,tue,wed,thu,fri"."""
    if field.strip() in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span in ("*", "?"):
            first, last = 0, 6
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = _day(a), _day(b)
        else:
            first = _day(span)
            last = 6 if step_text else first
        if last < first:
            raise ValueError(f"day-of-week range {span!r} runs backwards")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def crontab_trigger(expr: str, timezone: str) -> CronTrigger:
    """A standard 5-field crontab expression as an APScheduler trigger."""
    fields = expr.split()
    if len(fields) == 5:
        fields[4] = standard_days(fields[4])
        expr = " ".join(fields)
    return CronTrigger.from_crontab(expr, timezone=timezone)


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
