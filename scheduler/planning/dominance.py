"""Which candidate starts the planner can leave out without losing the optimum.

Left-shift argument. Take any valid plan and walk each manager-day's sessions in
start order, moving each one to the earliest grid start not before (a) the start of
the free window it sits in, (b) the previous session's end plus the buffer, and (c)
any preference anchor at or before it: the start of the manager's or seller's
preferred hours, or the time of day of the seller's previous session. Nothing gets
worse: the day (so caps, weekly spread and "earlier") is the same, the session stays
inside its free window and before the next session, a session inside preferred hours
stays inside (it stops at their start), and one at its previous time stays there.

After the walk every session starts at a "stop": the grid-rounded start of its
own window, one of its own anchors, or a chain of at most `day cap - 1` hops of
`session + buffer` (each rounded up to the grid) from anyone's such stop. So
there is always an optimal plan using only stops, and slots that are not stops
are dropped from the model. On loose calendars that removes about half of the
variables.
"""

from __future__ import annotations

from datetime import time

from scheduler.planning.availability import TeamAvailability
from scheduler.planning.objective import SlotScorer


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def stops(av: TeamAvailability, scorer: SlotScorer) -> list[set[int]]:
    """Per seller (in `av.sellers` order), the starts worth a variable: the seller's
    own window starts and anchors, and every hop from anyone's stop. (A session
    only ever stops at its *own* window start or anchor, or right after some
    other session, which is itself at a stop.)"""
    policy, problem = av.problem.policy, av.problem
    step = max(1, policy.slot_step_minutes)
    origin = av.day_starts[0]

    def grid(minute: int) -> int:
        return origin + -((origin - minute) // step) * step

    shared: set[int] = set()
    hours = problem.team.manager.preferred_hours or policy.preferred_hours
    if hours is not None:
        shared.update(grid(base + _minutes(hours[0])) for base in scorer.manager_clock.bases)
    own: list[set[int]] = []
    for slots in av.sellers:
        mine = set(shared)
        previous = None
        for start in slots.starts:
            if previous is None or start - previous != step:
                mine.add(start)  # first slot of a free window
            previous = start
        seller = slots.seller
        hours = seller.preferred_hours or policy.preferred_hours
        if hours is not None:
            clock = scorer.clock(seller)
            mine.update(grid(base + _minutes(hours[0])) for base in clock.bases)
        last = problem.previous.get(seller.id)
        if last is not None:
            at = _minutes(last.astimezone(av.manager_zone).time())
            mine.update(grid(base + at) for base in scorer.manager_clock.bases)
        own.append(mine)
    hops: set[int] = set()
    front: set[int] = set().union(*own) if own else set()
    hop = av.session + av.buffer
    sessions = sum(slots.need for slots in av.sellers)
    for _ in range(min(policy.max_sessions_per_manager_day, sessions) - 1):
        front = {grid(s + hop) for s in front} - hops
        hops |= front
    return [mine | hops for mine in own]
