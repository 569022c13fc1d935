"""Property tests: random small teams and calendars, checked independently.

For each generated team, `tests.planning.checker` (zoneinfo per slot, no planner
code) must find no hard-constraint violation in the CP-SAT or the greedy plan, and
the CP-SAT plan must book exactly as many sellers as a brute-force search over the
checker's own candidate slots. Windows are a few days around a DST switch or the
Swedish Christmas holidays, so brute force stays small.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Busy, BusyKind
from scheduler.model import Month, Person, Policy, Team, WorkingHours
from scheduler.planning.planner import greedy_plan, plan_team
from scheduler.planning.problem import FixedSession, TeamPlan, TeamProblem
from tests.planning.checker import grid_slots, plan_problems, session_set_problems

ZONES = (("Europe/Stockholm", "SE"), ("America/New_York", "US"), ("Europe/London", "GB"))
# (month, earliest day, latest day): EU DST end, EU DST start, Swedish Christmas.
WINDOWS = ((Month(2026, 10), 22, 27), (Month(2026, 3), 26, 31), (Month(2026, 12), 22, 29))


@st.composite
def people(draw: st.DrawFn, pid: str) -> Person:
    tz, country = draw(st.sampled_from(ZONES))
    start = draw(st.integers(7, 11))
    hours = WorkingHours(time(start), time(start + draw(st.integers(3, 8))))
    preferred = draw(st.none() | st.just((time(start), time(start + 2))))
    return Person(
        pid,
        pid,
        f"{pid}@x",
        tz,
        country,
        "local",
        pid,
        working_hours=hours,
        preferred_hours=preferred,
    )


@st.composite
def calendars(
    draw: st.DrawFn, person: Person, month: Month, first: int, last: int
) -> tuple[Busy, ...]:
    tz = ZoneInfo(person.timezone)
    out = []
    for _ in range(draw(st.integers(0, 6))):
        day = date(month.year, month.month, draw(st.integers(first, last)))
        start = datetime.combine(
            day, time(draw(st.integers(6, 18)), draw(st.sampled_from((0, 30)))), tz
        )
        length = timedelta(minutes=draw(st.sampled_from((30, 60, 90, 180))))
        kind = draw(
            st.sampled_from((BusyKind.BUSY, BusyKind.BUSY, BusyKind.TENTATIVE, BusyKind.OOF))
        )
        out.append(Busy(start, start + length, kind))
    return tuple(out)


@st.composite
def problems(draw: st.DrawFn) -> TeamProblem:
    month, first, last = draw(st.sampled_from(WINDOWS))
    manager = draw(people("m"))
    sellers = tuple(draw(people(f"s{i}")) for i in range(draw(st.integers(1, 3))))
    policy = Policy(
        session_minutes=draw(st.sampled_from((45, 60))),
        buffer_minutes=draw(st.sampled_from((0, 10, 15))),
        earliest_day=first,
        latest_day=last,
        lead_time_hours=draw(st.sampled_from((0, 24, 48))),
        max_sessions_per_manager_day=draw(st.integers(1, 3)),
        max_minutes_per_manager_week=draw(st.sampled_from((45, 60, 120, 240))),
        slot_step_minutes=30,
        preferred_weekdays=draw(st.sampled_from((frozenset(), frozenset({1, 3})))),
        solver_time_limit_seconds=30.0,
    )
    busy = {p.id: draw(calendars(p, month, first, last)) for p in (manager, *sellers)}
    window_start = datetime(month.year, month.month, first, tzinfo=UTC)
    now = window_start - timedelta(hours=draw(st.integers(0, 96)))
    fixed: tuple[FixedSession, ...] = ()
    if draw(st.booleans()):
        start = datetime.combine(
            date(month.year, month.month, draw(st.integers(first, last))),
            time(draw(st.integers(8, 15))),
            ZoneInfo(manager.timezone),
        )
        fixed = (FixedSession("other", start, start + timedelta(minutes=policy.session_minutes)),)
        busy[manager.id] += (Busy(fixed[0].start, fixed[0].end),)
    errors = {sellers[0].id: "cannot read"} if draw(st.integers(0, 9)) == 0 else {}
    to_book = tuple(s.id for s in sellers if draw(st.integers(0, 5)) > 0)
    return TeamProblem(
        team=Team("t", "T", manager, sellers),
        policy=policy,
        month=month,
        now=now,
        busy=busy,
        to_book=to_book,
        fixed=fixed,
        calendar_errors=errors,
    )


def brute_force_max(problem: TeamProblem) -> int:
    """Most sellers any valid plan books: depth-first over the checker's slots."""
    length = timedelta(minutes=problem.policy.session_minutes)
    options = [grid_slots(problem, s) for s in problem.team.sellers if s.id in problem.to_book]
    options = [o for o in options if o]
    best = 0

    def search(i: int, chosen: list[tuple[datetime, datetime]]) -> None:
        nonlocal best
        best = max(best, len(chosen))
        if i == len(options) or best == len(options) or len(chosen) + len(options) - i <= best:
            return
        for start in options[i]:
            trial = [*chosen, (start, start + length)]
            if not session_set_problems(problem, trial):
                search(i + 1, trial)
        search(i + 1, chosen)

    search(0, [])
    return best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_plans_are_valid_and_book_the_brute_force_optimum(problem: TeamProblem) -> None:
    plan = plan_team(problem)
    assert plan_problems(problem, plan) == []
    greedy = greedy_plan(problem)
    assert plan_problems(problem, greedy) == []
    booked = {p.seller_id for p in plan.proposals}
    assert booked | {u.seller_id for u in plan.unbookable} == set(problem.to_book)
    assert not booked & {u.seller_id for u in plan.unbookable}
    assert all(u.reason for u in plan.unbookable)
    assert plan.optimal
    assert len(plan.proposals) == brute_force_max(problem) == plan.upper_bound
    assert len(greedy.proposals) <= len(plan.proposals)
    assert plan_team(problem) == plan  # deterministic


def score(problem: TeamProblem, plan: TeamPlan) -> tuple[int, ...]:
    """The objective tiers of the issue, lowest first-compared, computed from scratch."""
    policy = problem.policy
    mtz = ZoneInfo(problem.team.manager.timezone)
    sellers = {s.id: s for s in problem.team.sellers}
    weeks: dict[tuple[int, int], int] = {}
    for start in [p.start for p in plan.proposals] + [f.start for f in problem.fixed]:
        week = start.astimezone(mtz).isocalendar()[:2]
        weeks[week] = weeks.get(week, 0) + 1
    days = prefs = prev = 0
    for p in plan.proposals:
        local = p.start.astimezone(mtz)
        days += local.day
        for person in (problem.team.manager, sellers[p.seller_id]):
            hours = person.preferred_hours or policy.preferred_hours
            ls, le = (
                p.start.astimezone(ZoneInfo(person.timezone)),
                p.end.astimezone(ZoneInfo(person.timezone)),
            )
            if hours and not (
                ls.date() == le.date() and hours[0] <= ls.time() and le.time() <= hours[1]
            ):
                prefs += 1
        if policy.preferred_weekdays and local.weekday() not in policy.preferred_weekdays:
            prefs += 1
        last = problem.previous.get(p.seller_id)
        if last is not None:
            last = last.astimezone(mtz)
            prev += (last.weekday() != local.weekday()) + (last.time() != local.time())
    return (-len(plan.proposals), sum(n * n for n in weeks.values()), prefs, prev, days)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.data())
def test_leaving_out_dominated_slots_keeps_the_optimum(
    problem: TeamProblem, data: st.DataObject
) -> None:
    # With previous sessions too, so every tier is in play.
    previous = {
        s.id: datetime.combine(
            date(2026, 1, data.draw(st.integers(5, 9))),
            time(data.draw(st.integers(7, 15)), data.draw(st.sampled_from((0, 30)))),
            ZoneInfo(s.timezone),
        )
        for s in problem.team.sellers
    }
    problem = replace(problem, previous=previous)
    reduced = plan_team(problem)
    with patch(
        "scheduler.planning.planner.stops", lambda av, scorer: [set(s.starts) for s in av.sellers]
    ):
        full = plan_team(problem)
    assert reduced.optimal and full.optimal
    assert score(problem, reduced) == score(problem, full)


def _dense_problem(seed: int) -> TeamProblem:
    """A bigger, busier team than `problems()` (3-7 sellers, up to ten days, 15-minute
    grid, preferences and previous sessions), where leaving slots out could bite."""
    rng = random.Random(seed)

    def member(pid: str) -> Person:
        tz, country = rng.choice(ZONES)
        start = rng.randint(7, 10)
        hours = WorkingHours(time(start), time(start + rng.randint(5, 9)))
        preferred = rng.choice([None, (time(start + 1), time(start + 3))])
        return Person(
            pid,
            pid,
            f"{pid}@x",
            tz,
            country,
            "local",
            pid,
            working_hours=hours,
            preferred_hours=preferred,
        )

    manager = member("m")
    sellers = tuple(member(f"s{i}") for i in range(rng.randint(3, 7)))
    month = Month(2026, rng.choice([3, 6, 10]))
    first = rng.randint(1, 20)
    policy = Policy(
        session_minutes=rng.choice([30, 45, 60]),
        buffer_minutes=rng.choice([0, 5, 10, 15]),
        earliest_day=first,
        latest_day=first + rng.randint(2, 9),
        lead_time_hours=0,
        max_sessions_per_manager_day=rng.randint(1, 4),
        max_minutes_per_manager_week=rng.choice([90, 120, 240, 600]),
        slot_step_minutes=rng.choice([15, 30]),
        preferred_hours=rng.choice([None, (time(9), time(12))]),
        preferred_weekdays=rng.choice([frozenset(), frozenset({1, 2})]),
    )
    kinds = [BusyKind.BUSY] * 4 + [BusyKind.TENTATIVE, BusyKind.OOF]
    busy: dict[str, tuple[Busy, ...]] = {}
    for p in (manager, *sellers):
        tz = ZoneInfo(p.timezone)
        blocks = []
        for day in range(first, min(first + 10, 28) + 1):
            for _ in range(rng.randint(0, 5)):
                at = time(rng.randint(7, 17), rng.choice([0, 15, 30, 45]))
                start = datetime.combine(date(month.year, month.month, day), at, tz)
                length = timedelta(minutes=rng.choice([15, 30, 45, 60, 90, 120]))
                blocks.append(Busy(start, start + length, rng.choice(kinds)))
        busy[p.id] = tuple(blocks)
    mtz = ZoneInfo(manager.timezone)
    previous = {
        s.id: datetime(
            2026, 1, rng.randint(5, 9), rng.randint(8, 15), rng.choice([0, 15, 30, 45]), tzinfo=mtz
        )
        for s in sellers
        if rng.random() < 0.7
    }
    return TeamProblem(
        Team("t", "T", manager, sellers),
        policy,
        month,
        datetime(month.year, month.month, 1, tzinfo=UTC) - timedelta(days=3),
        busy,
        tuple(s.id for s in sellers),
        previous=previous,
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_dominance_on_busier_teams(seed: int) -> None:
    problem = _dense_problem(seed)
    reduced = plan_team(problem)
    with patch(
        "scheduler.planning.planner.stops", lambda av, scorer: [set(s.starts) for s in av.sellers]
    ):
        full = plan_team(problem)
    assert reduced.optimal and full.optimal
    assert plan_problems(problem, reduced) == []
    assert score(problem, reduced) == score(problem, full)
