"""The team planner: explanations, priorities, caps, determinism, parallel runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from connectors.base import Busy, BusyKind
from scheduler.model import Month, Person, Policy, Team, WorkingHours
from scheduler.planning.planner import greedy_plan, plan_team, plan_teams
from scheduler.planning.problem import FixedSession, TeamPlan, TeamProblem
from tests.planning.checker import plan_problems

STHLM = ZoneInfo("Europe/Stockholm")
JUNE = Month(2026, 6)  # 1 June 2026 is a Monday; 19 June is Midsummer Eve


def person(pid: str, tz: str = "Europe/Stockholm", country: str = "SE", **kw: object) -> Person:
    return Person(pid, pid.title(), f"{pid}@example.com", tz, country, "local", pid, **kw)  # type: ignore[arg-type]


MANAGER = person("manager", working_hours=WorkingHours(time(8), time(17)))


def sellers(n: int) -> tuple[Person, ...]:
    return tuple(person(f"s{i}") for i in range(n))


def problem(
    team_sellers: tuple[Person, ...],
    policy: Policy | None = None,
    *,
    busy: dict[str, tuple[Busy, ...]] | None = None,
    now: datetime = datetime(2026, 5, 20, tzinfo=UTC),
    fixed: tuple[FixedSession, ...] = (),
    errors: dict[str, str] | None = None,
    previous: dict[str, datetime] | None = None,
    month: Month = JUNE,
) -> TeamProblem:
    return TeamProblem(
        team=Team("team", "Team", MANAGER, team_sellers),
        policy=policy or Policy(),
        month=month,
        now=now,
        busy=busy or {},
        to_book=tuple(s.id for s in team_sellers),
        fixed=fixed,
        calendar_errors=errors or {},
        previous=previous or {},
    )


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=STHLM)


def busy_except(day: int, start: time, end: time) -> tuple[Busy, ...]:
    """Busy all of 1-30 June except `start`-`end` on `day` (Stockholm)."""
    free_from, free_to = at(day, start.hour, start.minute), at(day, end.hour, end.minute)
    return (
        Busy(datetime(2026, 6, 1, tzinfo=STHLM), free_from),
        Busy(free_to, datetime(2026, 7, 1, tzinfo=STHLM)),
    )


def solved(p: TeamProblem) -> TeamPlan:
    plan = plan_team(p)
    assert plan_problems(p, plan) == []
    assert plan.solver == "cp-sat"
    return plan


def reason_of(plan: TeamPlan, seller_id: str) -> str:
    (reason,) = [u.reason for u in plan.unbookable if u.seller_id == seller_id]
    return reason


# --------------------------------------------------------------------------- reasons


def test_no_common_working_hours() -> None:
    far = person("far", "Pacific/Auckland", "NZ")
    plan = solved(problem((far,)))
    assert plan.proposals == ()
    text = reason_of(plan, "far")
    assert text.startswith("no common working hours")
    assert "Europe/Stockholm 08:00–17:00" in text and "Pacific/Auckland 09:00–17:00" in text


def test_no_allowed_day_left_after_lead_time() -> None:
    plan = solved(problem(sellers(1), now=datetime(2026, 6, 26, 12, tzinfo=UTC)))
    assert "no allowed day left in 2026-06" in reason_of(plan, "s0")
    assert "48 h" in reason_of(plan, "s0")


def test_out_of_office_every_common_day() -> None:
    oof = Busy(datetime(2026, 5, 31, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC), BusyKind.OOF)
    plan = solved(problem(sellers(1), busy={"s0": (oof,)}))
    assert reason_of(plan, "s0").startswith(
        "on holiday or out of office every day with common time"
    )
    # Weekdays 1-28 June 2026: 20, of which Midsummer Eve (19th) is a holiday.
    assert "on 20 allowed days: 1 public holiday, 19 days out of office" in reason_of(plan, "s0")


def test_all_common_time_busy_names_zones_and_overlap() -> None:
    ny = person("ny", "America/New_York", "US", subdivision="NY")
    day_busy = tuple(
        Busy(
            datetime.combine(date(2026, 6, d), time(9), ZoneInfo("America/New_York")),
            datetime.combine(date(2026, 6, d), time(17), ZoneInfo("America/New_York")),
        )
        for d in range(1, 31)
    )
    plan = solved(problem((ny,), busy={"ny": day_busy}))
    text = reason_of(plan, "ny")
    # June: New York 09:00 is 15:00 in Stockholm. Weekdays 1-28 June: 20, less
    # Midsummer Eve / Juneteenth (19th) = 19.
    assert text.startswith("no common free time: manager Manager (Europe/Stockholm 08:00–17:00)")
    assert "seller Ny (America/New_York 09:00–17:00)" in text
    assert "overlap 15:00–17:00 Stockholm time on 19 working days, all busy" in text


def test_weekly_cap_reason() -> None:
    policy = Policy(earliest_day=1, latest_day=5, max_minutes_per_manager_week=90)
    plan = solved(problem(sellers(3), policy))
    assert len(plan.proposals) == 2
    (unbooked,) = plan.unbookable
    assert unbooked.reason.startswith(
        "manager's weekly coaching cap (90 min) reached in every week with common time"
    )


def test_daily_cap_reason() -> None:
    policy = Policy(earliest_day=2, latest_day=2, max_sessions_per_manager_day=2)
    plan = solved(problem(sellers(3), policy))
    assert len(plan.proposals) == 2
    (unbooked,) = plan.unbookable
    assert unbooked.reason.startswith("manager's daily cap (2 sessions) reached")


def test_slot_taken_by_another_seller_reason() -> None:
    policy = Policy(earliest_day=2, latest_day=2)
    # 10:00-11:30 less the 10-minute buffers: room for one 45-minute session only.
    busy = {"manager": busy_except(2, time(10), time(11, 30))}
    plan = solved(problem(sellers(2), policy, busy=busy))
    assert len(plan.proposals) == 1
    (unbooked,) = plan.unbookable
    assert "taken by the manager's sessions with other sellers" in unbooked.reason


def test_unreadable_calendar_reason_names_the_problem() -> None:
    plan = solved(problem(sellers(2), errors={"s1": "Google answered 403 for s1@example.com"}))
    assert {p.seller_id for p in plan.proposals} == {"s0"}
    text = reason_of(plan, "s1")
    assert "calendar could not be read (Google answered 403 for s1@example.com)" in text


# --------------------------------------------------------------------------- priorities


def test_books_everyone_possible_where_greedy_does_not() -> None:
    # s0 can meet at 10:00 or 14:00, s1 only at 10:00: first-fit gives s0 10:00.
    policy = Policy(earliest_day=2, latest_day=2, buffer_minutes=0)
    busy = {
        "s0": (Busy(at(2, 11), at(2, 14)),),
        "s1": (Busy(at(2, 11), at(2, 17)),),
        "manager": (Busy(at(2, 8), at(2, 10)),),
    }
    p = problem(sellers(2), policy, busy=busy)
    greedy = greedy_plan(p)
    assert plan_problems(p, greedy) == []
    assert len(greedy.proposals) == 1 and greedy.solver == "greedy"
    plan = solved(p)
    by_seller = {x.seller_id: x.start for x in plan.proposals}
    assert by_seller["s1"] == at(2, 10) and by_seller["s0"] >= at(2, 14)
    assert plan.optimal and plan.upper_bound == 2


def test_spreads_sessions_over_the_weeks() -> None:
    plan = solved(problem(sellers(4)))
    weeks = [p.start.astimezone(STHLM).isocalendar()[1] for p in plan.proposals]
    assert sorted(weeks) == [23, 24, 25, 26]  # the four weeks of 1-28 June


def test_spread_never_costs_a_seller() -> None:
    # Only week 23 has room for s2 (free only on 2 June); spreading must not drop it.
    policy = Policy(max_minutes_per_manager_week=90)
    busy = {"s2": busy_except(2, time(9), time(12))}
    plan = solved(problem(sellers(3), policy, busy=busy))
    assert len(plan.proposals) == 3


def test_preferred_hours_then_previous_time_then_earlier() -> None:
    # One seller: preferred hours first; within those, the previous session's
    # weekday and time (a Wednesday 14:30 before), even though a Monday is earlier;
    # and without a previous session, the earliest preferred time.
    policy = Policy(preferred_hours=(time(13), time(16)))
    previous = {"s0": datetime(2026, 5, 13, 14, 30, tzinfo=STHLM)}
    (only,) = solved(problem(sellers(1), policy, previous=previous)).proposals
    assert only.start == at(3, 14, 30)  # Wednesday 3 June
    (only,) = solved(problem(sellers(1), policy)).proposals
    assert only.start == at(1, 13)


def test_preferred_weekdays_decide_on_a_quiet_calendar() -> None:
    # Empty calendars: "earlier in the month" must not outrank the preferred
    # weekdays (every session used to land on the first Monday).
    policy = Policy(preferred_weekdays=frozenset({1, 2, 3}))  # Tue, Wed, Thu
    plan = solved(problem(sellers(6), policy))
    assert len(plan.proposals) == 6
    assert {p.start.astimezone(STHLM).weekday() for p in plan.proposals} <= {1, 2, 3}


def test_fixed_sessions_count_once_against_caps() -> None:
    # A standing session (also in the manager's busy time, as calendars report it)
    # uses 45 of the week's 90 minutes: one more fits, not zero and not two.
    policy = Policy(earliest_day=1, latest_day=5, max_minutes_per_manager_week=90)
    fixed = FixedSession("s9", at(1, 9), at(1, 9, 45))
    busy = {"manager": (Busy(fixed.start, fixed.end),)}
    plan = solved(problem(sellers(2), policy, busy=busy, fixed=(fixed,)))
    assert len(plan.proposals) == 1


def test_two_sessions_per_seller_on_different_days() -> None:
    plan = solved(problem(sellers(2), Policy(sessions_per_seller=2)))
    assert len(plan.proposals) == 4
    for sid in ("s0", "s1"):
        days = {p.start.date() for p in plan.proposals if p.seller_id == sid}
        assert len(days) == 2


# --------------------------------------------------------------------------- runs


def _busy_team(seed: int) -> TeamProblem:
    import random

    rng = random.Random(seed)
    team = sellers(8)
    busy: dict[str, tuple[Busy, ...]] = {}
    for pid in ["manager", *(s.id for s in team)]:
        blocks = []
        for d in range(1, 29):
            for _ in range(rng.randint(2, 6)):
                start = at(d, rng.randint(8, 15), rng.choice((0, 30)))
                blocks.append(Busy(start, start + timedelta(minutes=rng.choice((30, 60, 90)))))
        busy[pid] = tuple(blocks)
    return problem(team, busy=busy)


def test_deterministic_and_parallel_equals_sequential() -> None:
    problems = [_busy_team(seed) for seed in range(4)]
    sequential = plan_teams(problems, workers=1)
    assert sequential == [plan_team(p) for p in problems]
    assert plan_teams(problems, workers=2) == sequential
    for p, plan in zip(problems, sequential, strict=True):
        assert plan_problems(p, plan) == []
        assert len(plan.proposals) >= len(greedy_plan(p).proposals)


def test_buffer_between_sessions() -> None:
    # Free 10:00-11:55: with 10-minute buffers 95 minutes are usable, less than two
    # 45-minute sessions and the buffer between them; without buffers two fit.
    busy = {"manager": busy_except(2, time(10), time(11, 55))}
    with_buffer = solved(problem(sellers(2), Policy(earliest_day=2, latest_day=2), busy=busy))
    assert len(with_buffer.proposals) == 1
    no_buffer = Policy(earliest_day=2, latest_day=2, buffer_minutes=0)
    assert len(solved(problem(sellers(2), no_buffer, busy=busy)).proposals) == 2


def test_sessions_back_to_back_with_the_buffer() -> None:
    # Free 10:00-11:45 (10:10-11:35 after buffers): two 30-minute sessions fit only
    # as 10:15 and 11:00, the second one right after the first plus its buffer.
    busy = {"manager": busy_except(2, time(10), time(11, 45))}
    policy = Policy(earliest_day=2, latest_day=2, session_minutes=30)
    plan = solved(problem(sellers(2), policy, busy=busy))
    assert sorted(p.start for p in plan.proposals) == [at(2, 10, 15), at(2, 11)]


def test_seller_not_in_the_team_is_reported_not_planned() -> None:
    p = problem(sellers(1))
    p = TeamProblem(p.team, p.policy, p.month, p.now, p.busy, ("s0", "ghost"))
    plan = solved(p)
    assert [x.seller_id for x in plan.proposals] == ["s0"]
    assert "not a seller of team team" in reason_of(plan, "ghost")


def test_time_limit_gives_a_valid_plan_that_says_it_is_not_proven() -> None:
    base = _busy_team(5)
    p = TeamProblem(
        base.team,
        Policy(solver_time_limit_seconds=1e-6),
        base.month,
        base.now,
        base.busy,
        base.to_book,
    )
    plan = plan_team(p)
    assert plan_problems(p, plan) == []
    assert not plan.optimal  # nothing can be proven in a microsecond
    assert plan.upper_bound is not None and plan.upper_bound >= len(plan.proposals)
    assert {x.seller_id for x in plan.proposals} | {u.seller_id for u in plan.unbookable} == set(
        p.to_book
    )


def test_same_plan_under_different_hash_seeds() -> None:
    # Set and dict orders change with PYTHONHASHSEED; the plan must not.
    code = (
        "from tests.planning.test_planner import _busy_team;"
        "from scheduler.planning.planner import plan_team;"
        "print(repr(plan_team(_busy_team(3))))"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and "Proposal(" in outputs.pop()
