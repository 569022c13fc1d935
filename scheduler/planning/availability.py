"""Candidate slots: when can each seller meet their manager this month?

Pure: a `TeamProblem` in, a `TeamAvailability` out. A candidate is a session start on
the policy's grid (aligned to the manager's local midnight) such that the whole
session lies inside both people's working hours (each in their own zone and country),
on a day the policy allows (weekday, earliest/latest day of month, blackout dates,
lead time), and no closer than the buffer to anything busy in either calendar.

Everything is turned into epoch minutes once per person (see `scheduler.planning.intervals`);
candidate generation is interval arithmetic per person and a `range` per free gap.
Sellers without a single candidate get a `Diagnosis` saying which filter removed the
last of their common time (rendered into words by `scheduler.planning.explain`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from connectors.base import Busy, BusyKind
from scheduler.errors import UserError
from scheduler.model import Person, Policy, WorkingHours
from scheduler.planning.intervals import (
    Interval,
    at_least,
    ceil_minute,
    floor_minute,
    grid_starts,
    intersect,
    merge,
    subtract,
)
from scheduler.planning.problem import TeamProblem


class Block(StrEnum):
    """The filter that removed a seller's last common time, in the order applied."""

    CALENDAR = "calendar"  # a calendar could not be read: unknown is never free
    HOURS = "hours"  # working hours do not overlap by a session's length
    WINDOW = "window"  # no allowed day left (days of month, weekdays, lead time, blackout)
    ABSENT = "absent"  # public holidays and out-of-office cover every common day
    BUSY = "busy"  # busy (plus buffer) everywhere in the remaining common time
    CAPS = "caps"  # slots exist, but other sessions and the manager's caps took them
    TIME_LIMIT = "time_limit"  # the solver stopped before placing this seller


@dataclass(frozen=True)
class Diagnosis:
    block: Block
    detail: str = ""  # calendar message, or the overlap of working hours in words
    days: int = 0  # days with common time at the stage that blocked
    holidays: int = 0  # of those, days lost to public holidays (ABSENT)
    out_of_office: int = 0  # of those, days lost to out-of-office (ABSENT)
    person: str = ""  # "manager" or "seller" (CALENDAR)
    slots: int = 0  # CAPS: candidate slots the seller had
    taken: int = 0  # CAPS: of those, overlapping another session (with buffer)
    day_full: int = 0  # CAPS: on a day at the manager's daily cap
    week_full: int = 0  # CAPS: in a week at the manager's weekly cap


@dataclass(frozen=True)
class SellerSlots:
    seller: Person
    need: int  # sessions to place this month
    starts: tuple[int, ...]  # candidate starts, epoch minutes, ascending
    diagnosis: Diagnosis | None = None  # set when `starts` is empty


@dataclass(frozen=True)
class TeamAvailability:
    problem: TeamProblem
    manager_zone: ZoneInfo
    session: int  # minutes
    buffer: int
    day_starts: tuple[int, ...]  # manager-local midnights, first day .. day after last
    day_dates: tuple[date, ...]  # the manager-local date of each day (one fewer)
    sellers: tuple[SellerSlots, ...]
    fixed: tuple[Interval, ...]  # this month's standing sessions of the manager

    def day_of(self, minute: int) -> int:
        """Index into `day_dates` of the manager-local day holding `minute`."""
        return bisect.bisect_right(self.day_starts, minute) - 1

    def week_of(self, minute: int) -> tuple[int, int]:
        """ISO (year, week) in the manager's zone: the weekly cap's unit."""
        iso = self.day_dates[self.day_of(minute)].isocalendar()
        return iso.year, iso.week

    def to_datetime(self, minute: int) -> datetime:
        return datetime.fromtimestamp(minute * 60, tz=self.manager_zone)


def zone(name: str, who: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"{who}: unknown time zone {name!r} (use an IANA name)") from None


#: Days off: official public holidays, plus the de facto ones where the `holidays`
#: package knows them (Christmas Eve, New Year's Eve and Midsummer Eve in Sweden are
#: not statutory, yet nobody works them).
HOLIDAY_CATEGORIES = ("public", "de_facto")


@lru_cache(maxsize=256)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    supported = holidays.country_holidays(country, subdiv=subdivision).supported_categories
    categories = tuple(c for c in HOLIDAY_CATEGORIES if c in supported) or ("public",)
    return frozenset(
        holidays.country_holidays(country, subdiv=subdivision, years=year, categories=categories)
    )


def holiday_dates(person: Person, years: Iterable[int]) -> frozenset[date]:
    out: set[date] = set()
    for year in years:
        try:
            out |= _holiday_dates(person.country.upper(), person.subdivision, year)
        except NotImplementedError:
            raise UserError(
                f"person {person.id}: no public holidays known for country "
                f"{person.country!r} subdivision {person.subdivision!r}"
                " (use an ISO 3166 code the `holidays` package knows)"
            ) from None
    return frozenset(out)


def working_hours(person: Person, policy: Policy) -> WorkingHours:
    return person.working_hours or policy.working_hours


def _local_minute(tz: ZoneInfo, day: date, at: time) -> int:
    return floor_minute(datetime.combine(day, at, tzinfo=tz))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@lru_cache(maxsize=1024)
def _working_minutes(
    tz_name: str, hours: WorkingHours, days: tuple[date, ...]
) -> tuple[Interval, ...]:
    # Most people of a team share a zone and the policy's hours: convert once.
    tz = ZoneInfo(tz_name)
    return tuple((_local_minute(tz, d, hours.start), _local_minute(tz, d, hours.end)) for d in days)


def blocked_intervals(
    busy: Iterable[Busy], buffer: int, *, oof: bool | None = None
) -> list[Interval]:
    """Busy time widened by the buffer on both sides; out-of-office is taken as it is.

    `oof=True` keeps only out-of-office, `False` only the rest, `None` everything.
    """
    out: list[Interval] = []
    for b in busy:
        is_oof = b.kind is BusyKind.OOF
        if oof is not None and is_oof != oof:
            continue
        pad = 0 if is_oof else buffer
        out.append((floor_minute(b.start) - pad, ceil_minute(b.end) + pad))
    return merge(out)


@dataclass(frozen=True)
class _PersonTime:
    """One person's month, at each filtering stage (all merged interval lists)."""

    person: Person
    tz: ZoneInfo
    hours: WorkingHours
    work: list[Interval]  # working hours, every working weekday
    present: list[Interval]  # minus public holidays and blackout days
    oof: list[Interval]
    busy: list[Interval]  # busy and tentative, widened by the buffer
    holidays: frozenset[date]

    @property
    def free(self) -> list[Interval]:
        return subtract(subtract(self.present, self.oof), self.busy)


def _person_time(
    person: Person, busy: tuple[Busy, ...], problem: TeamProblem, days: list[date]
) -> _PersonTime:
    policy = problem.policy
    tz = zone(person.timezone, f"person {person.id}")
    hours = working_hours(person, policy)
    hol = holiday_dates(person, sorted({d.year for d in days}))
    working_days = [d for d in days if d.weekday() in hours.weekdays]
    work = list(_working_minutes(person.timezone, hours, tuple(working_days)))
    skip = hol | policy.blackout_dates
    return _PersonTime(
        person=person,
        tz=tz,
        hours=hours,
        work=work,
        present=[w for w, d in zip(work, working_days, strict=True) if d not in skip],
        oof=blocked_intervals(busy, 0, oof=True),
        busy=blocked_intervals(busy, policy.buffer_minutes, oof=False),
        holidays=hol,
    )


def _allowed_days(problem: TeamProblem, tz: ZoneInfo) -> list[Interval]:
    """The manager-local days the policy allows (merged)."""
    policy, month = problem.policy, problem.month
    first = month.first_day + timedelta(days=max(policy.earliest_day, 1) - 1)
    last = min(month.last_day, month.first_day + timedelta(days=policy.latest_day - 1))
    allowed = policy.working_hours.weekdays
    return merge(
        (_local_minute(tz, d, time()), _local_minute(tz, d + timedelta(days=1), time()))
        for d in _days(first, last)
        if d.weekday() in allowed and d not in policy.blackout_dates
    )


def _earliest(problem: TeamProblem, tz: ZoneInfo, days: list[Interval]) -> int:
    policy = problem.policy
    minute = ceil_minute(problem.now + timedelta(hours=policy.lead_time_hours))
    # Up onto the slot grid: candidates start only on it (see `grid_starts`, same
    # origin and step), so this leaves every candidate as it is, and the plan
    # changes only when `now` passes a grid point, not every minute.
    origin = _local_minute(tz, problem.month.first_day, time())
    step = max(1, policy.slot_step_minutes)
    minute = origin + -((origin - minute) // step) * step
    # Clipped to the allowed days: any time before the first one (or after the
    # last) gives the same window, so planning next month gives the same answer
    # all day long.
    return min(max(minute, days[0][0]), days[-1][1]) if days else minute


def earliest_start(problem: TeamProblem) -> int:
    """The first minute a session may start (epoch minutes): `now` plus the lead
    time, up onto the slot grid, clipped to the allowed days. It is all the
    planner reads of `now`: two problems equal but for `now` that agree on it get
    the same plan (the planning key relies on this)."""
    tz = zone(problem.team.manager.timezone, f"manager {problem.team.manager.id}")
    return _earliest(problem, tz, _allowed_days(problem, tz))


def _window(problem: TeamProblem, tz: ZoneInfo) -> list[Interval]:
    """The manager-local days the policy allows, from the lead time on."""
    days = _allowed_days(problem, tz)
    not_before = _earliest(problem, tz, days)
    return intersect(days, [(not_before, max(not_before, days[-1][1]) if days else 0)])


def team_availability(problem: TeamProblem) -> TeamAvailability:
    """Candidate slots for every seller in `problem.to_book`."""
    policy, month, team = problem.policy, problem.month, problem.team
    manager = team.manager
    mtz = zone(manager.timezone, f"manager {manager.id}")
    length, step = policy.session_minutes, max(1, policy.slot_step_minutes)
    # One day either side: a seller's local day can straddle the manager's month edge.
    days = _days(month.first_day - timedelta(days=1), month.last_day + timedelta(days=1))
    month_days = _days(month.first_day, month.last_day + timedelta(days=1))
    day_starts = tuple(_local_minute(mtz, d, time()) for d in month_days)

    fixed = tuple(sorted((floor_minute(f.start), ceil_minute(f.end)) for f in problem.fixed))
    fixed_count: dict[str, int] = {}
    for f in problem.fixed:
        fixed_count[f.seller_id] = fixed_count.get(f.seller_id, 0) + 1

    window = _window(problem, mtz)
    mgr = _person_time(manager, problem.busy.get(manager.id, ()), problem, days)
    # Standing sessions block the manager like any meeting (with the buffer); they may
    # be in `busy` too, and merging makes that harmless.
    mgr_busy = merge(
        mgr.busy + [(s - policy.buffer_minutes, e + policy.buffer_minutes) for s, e in fixed]
    )
    mgr_free = intersect(subtract(subtract(mgr.present, mgr.oof), mgr_busy), window)
    origin = day_starts[0]

    wanted = set(problem.to_book)
    out: list[SellerSlots] = []
    for seller in team.sellers:
        if seller.id not in wanted:
            continue
        need = max(1, policy.sessions_per_seller - fixed_count.get(seller.id, 0))
        error_person = (
            ("manager", manager.id) if manager.id in problem.calendar_errors else None
        ) or (("seller", seller.id) if seller.id in problem.calendar_errors else None)
        if error_person is not None:
            diagnosis = Diagnosis(
                Block.CALENDAR, problem.calendar_errors[error_person[1]], person=error_person[0]
            )
            out.append(SellerSlots(seller, need, (), diagnosis))
            continue
        st = _person_time(seller, problem.busy.get(seller.id, ()), problem, days)
        common = intersect(mgr_free, subtract(subtract(st.present, st.oof), st.busy))
        starts = grid_starts(common, length, step, origin)
        if starts:
            out.append(SellerSlots(seller, need, tuple(starts)))
        else:
            out.append(
                SellerSlots(seller, need, (), _diagnose(mgr, st, window, mgr_busy, length, mtz))
            )
    return TeamAvailability(
        problem=problem,
        manager_zone=mtz,
        session=length,
        buffer=policy.buffer_minutes,
        day_starts=day_starts,
        day_dates=tuple(month_days[:-1]),
        sellers=tuple(out),
        fixed=fixed,
    )


def _local_days(intervals: list[Interval], tz: ZoneInfo) -> set[date]:
    return {datetime.fromtimestamp(s * 60, tz=tz).date() for s, _ in intervals}


def _hhmm(minute: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(minute * 60, tz=tz).strftime("%H:%M")


def _diagnose(
    mgr: _PersonTime,
    st: _PersonTime,
    window: list[Interval],
    mgr_busy: list[Interval],
    length: int,
    mtz: ZoneInfo,
) -> Diagnosis:
    """Apply the filters one at a time; the first that leaves nothing is the reason."""
    hours = at_least(intersect(mgr.work, st.work), length)
    if not hours:
        return Diagnosis(Block.HOURS)
    in_window = at_least(intersect(hours, window), length)
    if not in_window:
        return Diagnosis(Block.WINDOW)
    overlap = f"{_hhmm(in_window[0][0], mtz)}–{_hhmm(in_window[0][1], mtz)}"
    present = at_least(intersect(in_window, intersect(mgr.present, st.present)), length)
    there = at_least(subtract(subtract(present, mgr.oof), st.oof), length)
    if not there:
        window_days = _local_days(in_window, mtz)
        hol_days = {d for d in window_days if d in mgr.holidays or d in st.holidays}
        return Diagnosis(
            Block.ABSENT,
            overlap,
            days=len(window_days),
            holidays=len(hol_days),
            out_of_office=len(_local_days(present, mtz) - _local_days(there, mtz)),
        )
    return Diagnosis(Block.BUSY, overlap, days=len(_local_days(there, mtz)))
