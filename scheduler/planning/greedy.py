"""Greedy first-fit: each seller in turn takes the earliest slot still feasible.

The baseline the benchmark compares CP-SAT with, and the solver's starting hint.
Feasibility here is the same rule set the CP-SAT model enforces (and the tests'
independent checker verifies): no overlap with the buffer between the manager's
sessions, the daily session cap and the weekly minutes cap in the manager's zone.
"""

from __future__ import annotations

import bisect

from scheduler.planning.availability import TeamAvailability


class Ledger:
    """The manager's sessions so far, with the counts the caps need."""

    def __init__(self, av: TeamAvailability) -> None:
        self.av = av
        self.policy = av.problem.policy
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.per_day: dict[int, int] = {}
        self.per_week: dict[tuple[int, int], int] = {}
        # Sellers of a team share most starts: find each one's day and week once.
        self._when: dict[int, tuple[int, tuple[int, int]]] = {}
        for start, end in av.fixed:
            self.add(start, end)

    def when(self, start: int) -> tuple[int, tuple[int, int]]:
        """The manager-local day index and ISO week of `start`."""
        found = self._when.get(start)
        if found is None:
            found = self._when[start] = (self.av.day_of(start), self.av.week_of(start))
        return found

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        if 0 <= self.av.day_of(start) < len(self.av.day_dates):
            day, week = self.when(start)
            self.per_day[day] = self.per_day.get(day, 0) + 1
            self.per_week[week] = self.per_week.get(week, 0) + (end - start)

    def day_full(self, start: int) -> bool:
        """No further session fits on the day of `start`: the daily or weekly cap."""
        day, week = self.when(start)
        return (
            self.per_day.get(day, 0) >= self.policy.max_sessions_per_manager_day
            or self.per_week.get(week, 0) + self.av.session
            > self.policy.max_minutes_per_manager_week
        )

    def fits(self, start: int) -> bool:
        av = self.av
        end = start + av.session
        if self.day_full(start):
            return False
        # Neighbours in start order are the only sessions that can clash: sessions
        # never overlap each other, so their ends are sorted too.
        i = bisect.bisect_left(self.starts, start)
        if i > 0 and self.ends[i - 1] + av.buffer > start:
            return False
        return not (i < len(self.starts) and end + av.buffer > self.starts[i])


def greedy_starts(av: TeamAvailability) -> dict[str, list[int]]:
    """seller id -> chosen starts, sellers in team order, earliest fitting slot first."""
    ledger = Ledger(av)
    chosen: dict[str, list[int]] = {}
    for slots in av.sellers:
        mine: list[int] = []
        days: set[int] = set()
        starts, i = slots.starts, 0
        while i < len(starts) and len(mine) < slots.need:
            start = starts[i]
            day = ledger.when(start)[0]
            if day in days or ledger.day_full(start):
                # Nothing more fits this day (a seller's second session goes on
                # another day): skip to the next day's starts, not one by one.
                i = bisect.bisect_left(starts, av.day_starts[day + 1], i + 1)
                continue
            if ledger.fits(start):
                ledger.add(start, start + av.session)
                mine.append(start)
                days.add(day)
            i += 1
        chosen[slots.seller.id] = mine
    return chosen
