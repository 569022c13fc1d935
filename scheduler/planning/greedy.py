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
        for start, end in av.fixed:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        if 0 <= self.av.day_of(start) < len(self.av.day_dates):
            day = self.av.day_of(start)
            self.per_day[day] = self.per_day.get(day, 0) + 1
            week = self.av.week_of(start)
            self.per_week[week] = self.per_week.get(week, 0) + (end - start)

    def fits(self, start: int) -> bool:
        av, policy = self.av, self.policy
        end = start + av.session
        if self.per_day.get(av.day_of(start), 0) >= policy.max_sessions_per_manager_day:
            return False
        if (
            self.per_week.get(av.week_of(start), 0) + av.session
            > policy.max_minutes_per_manager_week
        ):
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
        for start in slots.starts:
            if len(mine) >= slots.need:
                break
            if any(av.day_of(start) == av.day_of(s) for s in mine):
                continue  # a seller's second session goes on another day
            if ledger.fits(start):
                ledger.add(start, start + av.session)
                mine.append(start)
        chosen[slots.seller.id] = mine
    return chosen
