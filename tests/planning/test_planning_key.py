"""The planning key: equal keys mean equal plans, and `now` counts only as far as
the planner reads it (now + lead time, up onto the slot grid, clipped to the
allowed days)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Busy
from scheduler.model import Month, Policy, WorkingHours
from scheduler.planning.key import planning_key
from scheduler.planning.planner import plan_team
from scheduler.planning.problem import FixedSession, TeamPlan, TeamProblem
from tests.planning.test_planner import STHLM, at, problem, sellers
from tests.planning.test_planner_properties import problems


def exactly(plan: TeamPlan) -> tuple[object, ...]:
    """A plan with its times' zones too (datetime equality ignores the zone)."""
    return (
        plan,
        [(p.start.isoformat(), p.end.isoformat(), str(p.start.tzinfo)) for p in plan.proposals],
    )


def test_now_counts_only_through_the_earliest_start() -> None:
    # Lead time 48 h, 15-minute grid: now 08:01-08:15 UTC all give 10 June 10:15
    # Stockholm as the earliest start; 08:15:01 gives 10:30.
    base = problem(sellers(3), now=datetime(2026, 6, 8, 8, 1, tzinfo=UTC))
    same = replace(base, now=datetime(2026, 6, 8, 8, 15, tzinfo=UTC))
    later = replace(base, now=datetime(2026, 6, 8, 8, 15, 1, tzinfo=UTC))
    assert planning_key(base) == planning_key(same)
    assert exactly(plan_team(base)) == exactly(plan_team(same))
    assert planning_key(later) != planning_key(base)


def test_a_month_ahead_has_one_key_all_day() -> None:
    # Planning June on 20 May: the lead time ends before June's first day whatever
    # the hour, so a morning `plan` and an evening `book` agree.
    morning = problem(sellers(2), now=datetime(2026, 5, 20, 0, 0, tzinfo=UTC))
    evening = replace(morning, now=datetime(2026, 5, 20, 23, 59, 59, tzinfo=UTC))
    assert planning_key(morning) == planning_key(evening)


def test_reasons_do_not_show_minutes_off_the_grid() -> None:
    # All common time busy: the reason names the common time left in the window,
    # which starts at the earliest start. Two nows of one key must give one text
    # (it read "10:07–17:00" and "10:08–17:00" before the earliest start was
    # put on the grid).
    busy = {"s0": (Busy(at(1, 0), at(30, 23)),)}
    policy = Policy(lead_time_hours=0, working_hours=WorkingHours(time(9), time(17)))
    first = problem(sellers(1), policy, busy=busy, now=at(10, 10, 7).astimezone(UTC))
    second = replace(first, now=at(10, 10, 8).astimezone(UTC))
    assert planning_key(first) == planning_key(second)
    (reason,) = plan_team(first).unbookable
    assert "overlap 10:15–17:00 Stockholm time" in reason.reason
    assert exactly(plan_team(second)) == exactly(plan_team(first))


def test_every_input_is_in_the_key() -> None:
    base = problem(sellers(3), now=datetime(2026, 5, 20, tzinfo=UTC))
    s0, s1, s2 = base.team.sellers
    changed = [
        replace(base, busy={"s1": (Busy(at(2, 9), at(2, 10)),)}),
        replace(base, team=replace(base.team, sellers=(replace(s0, name="Sam"), s1, s2))),
        replace(base, team=replace(base.team, id="other")),
        replace(base, team=replace(base.team, manager=replace(base.team.manager, email="x@y"))),
        replace(base, policy=Policy(buffer_minutes=15)),
        replace(base, month=Month(2026, 7), now=datetime(2026, 6, 20, tzinfo=UTC)),
        replace(base, to_book=("s0", "s1")),
        replace(base, fixed=(FixedSession("s9", at(3, 9), at(3, 9, 45)),)),
        replace(base, calendar_errors={"s2": "403"}),
        replace(base, previous={"s0": datetime(2026, 5, 5, 9, tzinfo=STHLM)}),
    ]
    keys = [planning_key(p) for p in [base, *changed]]
    assert len(set(keys)) == len(keys)
    # The same inputs built anew give the same key.
    assert planning_key(problem(sellers(3), now=datetime(2026, 5, 20, tzinfo=UTC))) == keys[0]


def test_a_new_planner_changes_every_key() -> None:
    base = problem(sellers(2))
    before = planning_key(base)
    with patch("scheduler.planning.key.code_version", lambda: "another release"):
        assert planning_key(base) != before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.sampled_from((1, 7, 20, 29, 180, 24 * 60)))
def test_equal_keys_give_equal_plans(problem: TeamProblem, minutes: int) -> None:
    later = replace(problem, now=problem.now + timedelta(minutes=minutes))
    if planning_key(problem) == planning_key(later):
        assert exactly(plan_team(problem)) == exactly(plan_team(later))
