"""Where the demo's managers move a session: to a time both people are free.

A demo shows the product at its best, so a simulated move goes to the first slot after
the next day that fits both people's working hours (each in their own zone), public
holidays, out-of-office and their other meetings with the policy's buffer, on the
15-minute grid. The session's own event is left out of the busy time it moves from.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from scheduler.model import Month, Person, SessionRecord
from scheduler.planning.availability import (
    blocked_intervals,
    holiday_dates,
    working_hours,
    zone,
)
from scheduler.planning.intervals import (
    Interval,
    at_least,
    floor_minute,
    grid_starts,
    intersect,
    merge,
    subtract,
)
from scheduler.runtime import Runtime
from scheduler.sessions.booking import month_window

STEP_MINUTES = 15


def _free(rt: Runtime, person: Person, busy: list[Interval], days: list[date]) -> list[Interval]:
    policy = rt.org.policy
    tz = zone(person.timezone, f"person {person.id}")
    hours = working_hours(person, policy)
    off = holiday_dates(person, {d.year for d in days}) | policy.blackout_dates
    work = [
        (
            floor_minute(datetime.combine(d, hours.start, tz)),
            floor_minute(datetime.combine(d, hours.end, tz)),
        )
        for d in days
        if d.weekday() in hours.weekdays and d not in off
    ]
    return subtract(merge(work), busy)


def free_slot(
    rt: Runtime, rec: SessionRecord, month: Month, not_before: datetime
) -> tuple[datetime, datetime] | None:
    """The first time from the day after the session (and `not_before`) to the end of
    its month when manager and seller are both free, or None."""
    manager, seller = rt.person(rec.manager_id), rt.person(rec.seller_id)
    if manager is None or seller is None or rec.start is None or rec.end is None:
        return None
    window_start, window_end = month_window(month)
    answer = rt.connector(manager.connector).busy(
        [manager.calendar(), seller.calendar()], window_start, window_end
    )
    if answer.errors:
        return None
    days = [month.first_day + timedelta(days=n) for n in range(month.last_day.day)]
    common: list[Interval] | None = None
    for person in (manager, seller):
        own = [
            b
            for b in answer.intervals.get(person.id, ())
            if not (b.start == rec.start and b.end == rec.end)  # the session itself
        ]
        busy = blocked_intervals(own, rt.org.policy.buffer_minutes)
        free = _free(rt, person, busy, days)
        common = free if common is None else intersect(common, free)
    length = round((rec.end - rec.start).total_seconds() / 60)
    earliest = max(floor_minute(rec.start + timedelta(days=1)), floor_minute(not_before))
    origin = floor_minute(datetime.combine(month.first_day, rec.start.timetz()))
    for start in grid_starts(at_least(common or [], length), length, STEP_MINUTES, origin):
        if start >= earliest:
            begin = datetime.fromtimestamp(start * 60, rec.start.tzinfo)
            return begin, begin + timedelta(minutes=length)
    return None
