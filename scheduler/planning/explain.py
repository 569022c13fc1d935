"""Why a seller could not be booked, in words a person can act on.

`availability` finds the filter that removed a seller's last common time before
planning; `caps_diagnosis` looks at a finished plan for sellers who had slots but
lost them to other sessions or the manager's caps. `reason` renders either.
"""

from __future__ import annotations

from collections.abc import Iterable

from scheduler.model import Person, Policy
from scheduler.planning.availability import (
    Block,
    Diagnosis,
    SellerSlots,
    TeamAvailability,
    working_hours,
)

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _weekdays(days: Iterable[int]) -> str:
    return ", ".join(_DAY_NAMES[d] for d in sorted(days))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _place(tz_name: str) -> str:
    """`Europe/Stockholm` -> `Stockholm`: how people name a zone in a sentence."""
    return tz_name.rsplit("/", 1)[-1].replace("_", " ")


def _hours(person: Person, policy: Policy) -> str:
    wh = working_hours(person, policy)
    return f"{person.timezone} {wh.start:%H:%M}–{wh.end:%H:%M}"


def _who(role: str, person: Person, policy: Policy) -> str:
    return f"{role} {person.name} ({_hours(person, policy)})"


def reason(diagnosis: Diagnosis, seller: Person, availability: TeamAvailability) -> str:
    problem = availability.problem
    policy, manager = problem.policy, problem.team.manager
    pair = f"{_who('manager', manager, policy)} and {_who('seller', seller, policy)}"
    place = _place(manager.timezone)
    block = diagnosis.block
    if block is Block.CALENDAR:
        whose = manager if diagnosis.person == "manager" else seller
        return (
            f"the {diagnosis.person}'s calendar could not be read ({diagnosis.detail}); "
            f"unknown time is never planned as free: fix access to {whose.name}'s calendar "
            "and plan again"
        )
    if block is Block.HOURS:
        return (
            f"no common working hours: {pair} overlap less than the "
            f"{policy.session_minutes}-minute session: widen either person's working hours"
        )
    if block is Block.WINDOW:
        blackout = (
            f", except blackout dates {', '.join(str(d) for d in sorted(policy.blackout_dates))}"
            if policy.blackout_dates
            else ""
        )
        return (
            f"no allowed day left in {problem.month}: the policy allows days "
            f"{policy.earliest_day}–{policy.latest_day} on "
            f"{_weekdays(policy.working_hours.weekdays)}, at least {policy.lead_time_hours} h "
            f"ahead{blackout}: plan earlier or widen the policy's days"
        )
    if block is Block.ABSENT:
        return (
            f"on holiday or out of office every day with common time: {pair} overlap "
            f"{diagnosis.detail} {place} time on {_count(diagnosis.days, 'allowed day')}: "
            f"{_count(diagnosis.holidays, 'public holiday')}, "
            f"{_count(diagnosis.out_of_office, 'day')} out of office: "
            "book next month or shorten the absence"
        )
    if block is Block.BUSY:
        return (
            f"no common free time: {pair} overlap {diagnosis.detail} {place} time on "
            f"{diagnosis.days} working days, all busy (counting the {policy.buffer_minutes}-minute "
            "buffer around meetings): free up time in either calendar"
        )
    if block is Block.TIME_LIMIT:
        return (
            f"not placed before the solver's time limit ({policy.solver_time_limit_seconds:g} s) "
            "ran out: raise solver_time_limit_seconds and plan again"
        )
    return _caps_reason(diagnosis, policy)


def _caps_reason(d: Diagnosis, policy: Policy) -> str:
    week_cap = policy.max_minutes_per_manager_week
    day_cap = policy.max_sessions_per_manager_day
    if d.week_full == d.slots:
        return (
            f"manager's weekly coaching cap ({week_cap} min) reached in every week with "
            "common time: raise the cap or shorten sessions"
        )
    if d.day_full == d.slots:
        return (
            f"manager's daily cap ({day_cap} sessions) reached on every day with common "
            "time: raise max_sessions_per_manager_day or free up time on other days"
        )
    if d.taken == d.slots:
        return (
            f"every common free slot ({d.slots} on {d.days} days) is taken by the manager's "
            "sessions with other sellers: free up time in either calendar"
        )
    return (
        f"every common free slot ({d.slots} on {d.days} days) is taken: {d.taken} by sessions "
        f"with other sellers, {d.day_full} on days at the manager's daily cap ({day_cap} "
        f"sessions), {d.week_full} in weeks at the weekly cap ({week_cap} min): free up time "
        "or raise the caps"
    )


def caps_diagnosis(
    slots: SellerSlots,
    availability: TeamAvailability,
    planned: Iterable[int],
    complete: bool,
) -> Diagnosis:
    """Why none of `slots.starts` could be added to the plan whose session starts
    (new ones) are `planned`; `complete` is False when the solver was cut short."""
    av = availability
    policy = av.problem.policy
    length, gap = av.session, av.session + av.buffer
    sessions = sorted([(s, s + length) for s in planned] + list(av.fixed))
    per_day: dict[int, int] = {}
    per_week: dict[tuple[int, int], int] = {}
    for start, end in sessions:
        if 0 <= av.day_of(start) < len(av.day_dates):
            per_day[av.day_of(start)] = per_day.get(av.day_of(start), 0) + 1
            week = av.week_of(start)
            per_week[week] = per_week.get(week, 0) + (end - start)
    taken = day_full = week_full = 0
    days: set[int] = set()
    for start in slots.starts:
        days.add(av.day_of(start))
        if per_week.get(av.week_of(start), 0) + length > policy.max_minutes_per_manager_week:
            week_full += 1
        elif per_day.get(av.day_of(start), 0) >= policy.max_sessions_per_manager_day:
            day_full += 1
        elif any(s < start + gap and start < e + av.buffer for s, e in sessions):
            taken += 1
    if not complete and taken + day_full + week_full < len(slots.starts):
        return Diagnosis(Block.TIME_LIMIT)
    return Diagnosis(
        Block.CAPS,
        days=len(days),
        slots=len(slots.starts),
        taken=taken,
        day_full=day_full,
        week_full=week_full,
    )
