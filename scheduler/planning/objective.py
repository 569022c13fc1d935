"""The planner's soft preferences, as small integer scores per candidate slot.

Strict priority (see `scheduler.planning.planner`): (2) spread over the weeks, (3) preferred
hours and weekdays, (4) same weekday and time as the seller's previous session, (5)
earlier in the month. This module scores (3)-(5) per slot; (2) depends on the whole
plan and is modelled in the planner. Lower is better everywhere.

Scores are integer arithmetic on epoch minutes against per-day local "wall clock
bases", so scoring a million slots does not build a million datetimes.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.model import Person
from scheduler.planning.availability import TeamAvailability, zone
from scheduler.planning.intervals import floor_minute

#: Most a single slot can score per tier, used to derive the weights.
MAX_PREFERENCE = 3  # manager's hours, seller's hours, policy's weekdays
MAX_PREVIOUS = 2  # other weekday, other time of day


class WallClock:
    """Local date and minute of the day of an epoch minute, in one zone.

    `bases[i]` is local midnight of `dates[i]` computed with that day's noon offset,
    so minutes after a night-time DST switch still read as wall-clock minutes.
    """

    def __init__(self, tz: ZoneInfo, first: date, last: date) -> None:
        self.dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        self.bases = [
            floor_minute(datetime.combine(d, time(12), tzinfo=tz)) - 720 for d in self.dates
        ]

    def local(self, minute: int) -> tuple[date, int]:
        i = max(0, bisect.bisect_right(self.bases, minute) - 1)
        return self.dates[i], minute - self.bases[i]


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def _inside(minute_of_day: int, length: int, hours: tuple[time, time] | None) -> bool:
    return hours is None or (
        _minutes(hours[0]) <= minute_of_day and minute_of_day + length <= _minutes(hours[1])
    )


class SlotScorer:
    def __init__(self, availability: TeamAvailability) -> None:
        self.av = availability
        month = availability.problem.month
        self._first = month.first_day - timedelta(days=2)
        self._last = month.last_day + timedelta(days=2)
        self._clocks: dict[str, WallClock] = {}
        self.manager_clock = self.clock(availability.problem.team.manager)

    def clock(self, person: Person) -> WallClock:
        if person.timezone not in self._clocks:
            tz = zone(person.timezone, f"person {person.id}")
            self._clocks[person.timezone] = WallClock(tz, self._first, self._last)
        return self._clocks[person.timezone]

    def day(self, start: int) -> int:
        """Tier 5: days after the first day of the month (manager's zone)."""
        return self.av.day_of(start)

    def preference(self, seller: Person, start: int) -> int:
        """Tier 3: how many of the people's and policy's preferences the slot misses."""
        policy, manager = self.av.problem.policy, self.av.problem.team.manager
        length = self.av.session
        m_date, m_min = self.manager_clock.local(start)
        score = 0
        if not _inside(m_min, length, manager.preferred_hours or policy.preferred_hours):
            score += 1
        hours = seller.preferred_hours or policy.preferred_hours
        if hours is not None and not _inside(self.clock(seller).local(start)[1], length, hours):
            score += 1
        if policy.preferred_weekdays and m_date.weekday() not in policy.preferred_weekdays:
            score += 1
        return score

    def previous(self, seller: Person, start: int) -> int:
        """Tier 4: differs from the previous session in weekday and/or time of day,
        both read in the manager's zone (the meeting sits in the manager's week)."""
        last = self.av.problem.previous.get(seller.id)
        if last is None:
            return 0
        last_local = last.astimezone(self.av.manager_zone)
        here_date, here_min = self.manager_clock.local(start)
        return int(here_date.weekday() != last_local.weekday()) + int(
            here_min != _minutes(last_local.time())
        )
