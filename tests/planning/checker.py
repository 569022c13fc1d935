"""An independent checker of team plans, for the planner tests.

Written against the policy's words, not the planner's code: it converts every
session to each person's own zone with zoneinfo and checks each rule directly,
slot by slot, with no interval arithmetic shared with `scheduler.planning.availability`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import combinations
from zoneinfo import ZoneInfo

import holidays

from connectors.base import BusyKind
from scheduler.model import Person
from scheduler.planning.problem import TeamPlan, TeamProblem


def _days_off(person: Person, year: int) -> frozenset[date]:
    return _days_off_cached(person.country, person.subdivision, year)


@lru_cache(maxsize=64)
def _days_off_cached(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    cats = holidays.country_holidays(country).supported_categories
    wanted = tuple(c for c in ("public", "de_facto") if c in cats)
    return frozenset(
        holidays.country_holidays(country, subdiv=subdivision, years=year, categories=wanted)
    )


def slot_problems(problem: TeamProblem, seller: Person, start: datetime) -> list[str]:
    """Why one session of `seller` at `start` breaks a rule on its own ([] = fine)."""
    policy = problem.policy
    manager = problem.team.manager
    end = start + timedelta(minutes=policy.session_minutes)
    out: list[str] = []
    for role, person in (("manager", manager), ("seller", seller)):
        tz = ZoneInfo(person.timezone)
        hours = person.working_hours or policy.working_hours
        ls, le = start.astimezone(tz), end.astimezone(tz)
        if ls.date() != le.date() or ls.weekday() not in hours.weekdays:
            out.append(f"{role} not on a working day")
        if ls.time() < hours.start or le.time() > hours.end or le.time() == datetime.min.time():
            out.append(f"{role} outside working hours {ls:%H:%M}-{le:%H:%M}")
        if ls.date() in _days_off(person, ls.year):
            out.append(f"{role} public holiday {ls.date()}")
        if ls.date() in policy.blackout_dates:
            out.append(f"{role} blackout {ls.date()}")
        for b in problem.busy.get(person.id, ()):
            pad = timedelta(minutes=0 if b.kind is BusyKind.OOF else policy.buffer_minutes)
            if start < b.end + pad and b.start - pad < end:
                out.append(f"{role} busy {b.start:%d %H:%M}-{b.end:%H:%M} ({b.kind.value})")
    if seller.id in problem.calendar_errors or manager.id in problem.calendar_errors:
        out.append("calendar could not be read")
    local = start.astimezone(ZoneInfo(manager.timezone))
    if (local.year, local.month) != (problem.month.year, problem.month.month):
        out.append("not in the month")
    if not policy.earliest_day <= local.day <= policy.latest_day:
        out.append("outside the policy's days of month")
    if local.weekday() not in policy.working_hours.weekdays:
        out.append("not a policy weekday")
    if start < problem.now + timedelta(hours=policy.lead_time_hours):
        out.append("inside the lead time")
    return out


def plan_problems(problem: TeamProblem, plan: TeamPlan) -> list[str]:
    """Every hard-constraint violation in `plan` ([] = a valid plan)."""
    policy = problem.policy
    sellers = {s.id: s for s in problem.team.sellers}
    out: list[str] = []
    per_seller: dict[str, int] = {}
    for p in plan.proposals:
        if p.seller_id not in problem.to_book:
            out.append(f"{p.seller_id} was not to be booked")
            continue
        per_seller[p.seller_id] = per_seller.get(p.seller_id, 0) + 1
        if p.end - p.start != timedelta(minutes=policy.session_minutes):
            out.append(f"{p.seller_id}: wrong length")
        out += [
            f"{p.seller_id}: {m}" for m in slot_problems(problem, sellers[p.seller_id], p.start)
        ]
    for seller_id, n in per_seller.items():
        if n > policy.sessions_per_seller:
            out.append(f"{seller_id}: {n} sessions")
    return out + session_set_problems(problem, [(p.start, p.end) for p in plan.proposals])


def session_set_problems(problem: TeamProblem, new: list[tuple[datetime, datetime]]) -> list[str]:
    """Violations among the manager's sessions that involve a `new` one (standing
    sessions may already break a cap that was lowered since; that is not the plan's doing)."""
    policy = problem.policy
    mtz = ZoneInfo(problem.team.manager.timezone)
    out: list[str] = []
    sessions = [(s, e, True) for s, e in new] + [(f.start, f.end, False) for f in problem.fixed]
    gap = timedelta(minutes=policy.buffer_minutes)
    for (s1, e1, n1), (s2, e2, n2) in combinations(sessions, 2):
        if (n1 or n2) and s1 < e2 + gap and s2 < e1 + gap:
            out.append(f"sessions {s1} and {s2} closer than the buffer")
    per_day: dict[date, int] = {}
    per_week: dict[tuple[int, int], float] = {}
    new_days: set[date] = set()
    new_weeks: set[tuple[int, int]] = set()
    for s, e, is_new in sessions:
        local = s.astimezone(mtz)
        week = local.isocalendar()[:2]
        per_day[local.date()] = per_day.get(local.date(), 0) + 1
        per_week[week] = per_week.get(week, 0) + (e - s).total_seconds() / 60
        if is_new:
            new_days.add(local.date())
            new_weeks.add(week)
    for day in new_days:
        if per_day[day] > policy.max_sessions_per_manager_day:
            out.append(f"{per_day[day]} sessions on {day}")
    for week in new_weeks:
        if per_week[week] > policy.max_minutes_per_manager_week:
            out.append(f"{per_week[week]} minutes in week {week}")
    return out


def grid_slots(problem: TeamProblem, seller: Person) -> list[datetime]:
    """Every grid start of the month that passes `slot_problems` (slow, exhaustive)."""
    policy = problem.policy
    mtz = ZoneInfo(problem.team.manager.timezone)
    origin = datetime.combine(problem.month.first_day, datetime.min.time(), tzinfo=mtz)
    origin_utc = origin.astimezone(ZoneInfo("UTC"))
    end = datetime.combine(
        problem.month.last_day + timedelta(days=1), datetime.min.time(), tzinfo=mtz
    ).astimezone(ZoneInfo("UTC"))
    step = timedelta(minutes=policy.slot_step_minutes)
    out = []
    t = origin_utc
    while t < end:
        if not slot_problems(problem, seller, t):
            out.append(t)
        t += step
    return out
