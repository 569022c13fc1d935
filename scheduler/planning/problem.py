"""Inputs and outputs of the pure planning core (availability + planner).

Plain data in, plain data out: no I/O, no clock reads (`now` is a field), so the
planner can be tested exhaustively and run in a process pool per team.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Busy
from scheduler.model import Month, Policy, Team


@dataclass(frozen=True)
class FixedSession:
    """A session of this manager that already stands this month (booked or held)."""

    seller_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class TeamProblem:
    team: Team
    policy: Policy
    month: Month
    now: datetime  # nothing is planned before now + policy.lead_time_hours
    busy: Mapping[str, tuple[Busy, ...]]  # person id -> busy intervals (our own events too)
    to_book: tuple[str, ...]  # seller ids that need a slot this month
    fixed: tuple[FixedSession, ...] = ()  # count against the manager's caps and overlap
    calendar_errors: Mapping[str, str] = field(default_factory=dict)  # person id -> message
    previous: Mapping[str, datetime] = field(default_factory=dict)  # seller -> last session


@dataclass(frozen=True)
class Proposal:
    seller_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Unbookable:
    seller_id: str
    reason: str  # words a person can act on


@dataclass(frozen=True)
class TeamPlan:
    team_id: str
    proposals: tuple[Proposal, ...]
    unbookable: tuple[Unbookable, ...]
    optimal: bool = True  # proven optimal (False when the time limit cut the search)
    upper_bound: int | None = None  # most sellers any plan could book, when known
    solver: str = ""  # "cp-sat", "greedy", ...
    # Taken from the store (an earlier run planned the same inputs), not solved in
    # this run. Where the plan came from, not part of it: equality ignores it.
    reused: bool = field(default=False, compare=False)
