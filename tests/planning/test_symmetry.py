"""Interchangeable sellers share one set of variables (`scheduler.planning.symmetry`).

The aggregated model must be exact: on random small teams where some sellers are
identical (same zone, hours, calendar and last session) and some are not, it reaches
the same objective, tier by tier, as the model with one Boolean per (seller, start),
and both are proven optimal. Plans stay valid and deterministic, and a class's
starts go to its members in team order, earliest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Busy
from scheduler.model import Month, Person, Policy, Team, WorkingHours
from scheduler.planning import symmetry
from scheduler.planning.planner import plan_team
from scheduler.planning.problem import TeamProblem
from scheduler.planning.symmetry import Signature, hand_out, interchangeable
from tests.planning.checker import plan_problems
from tests.planning.test_planner_properties import calendars, score

MONTH = Month(2026, 10)  # the EU DST change on the 25th, a Sunday
FIRST, LAST = 19, 30


def _one_each(
    candidates: Mapping[int, Signature], needs: Mapping[int, int]
) -> list[tuple[int, ...]]:
    """The model without aggregation: every seller a class of one."""
    return [(seller,) for seller in sorted(candidates)]


@st.composite
def teams_with_twins(draw: st.DrawFn) -> TeamProblem:
    """2-7 sellers drawn from 1-3 kinds; sellers of a kind share zone, hours and
    last session, and most share the kind's calendar too (so they are identical)."""
    zones = (("Europe/Stockholm", "SE"), ("Europe/London", "GB"))
    kinds = []
    for k in range(draw(st.integers(1, 3))):
        tz, country = draw(st.sampled_from(zones))
        begin = draw(st.integers(8, 10))
        previous = None
        if draw(st.booleans()):
            day, hour = draw(st.integers(14, 18)), draw(st.integers(8, 15))
            previous = datetime(2026, 9, day, hour, 0, tzinfo=ZoneInfo(tz))
        kinds.append(
            {
                "tz": tz,
                "country": country,
                "hours": WorkingHours(time(begin), time(begin + draw(st.integers(3, 8)))),
                "preferred": draw(st.none() | st.just((time(begin), time(begin + 2)))),
                "previous": previous,
                "id": k,
            }
        )

    def member(pid: str, kind: dict[str, object]) -> Person:
        return Person(
            pid,
            pid,
            f"{pid}@x",
            str(kind["tz"]),
            str(kind["country"]),
            "local",
            pid,
            working_hours=kind["hours"],  # type: ignore[arg-type]
            preferred_hours=kind["preferred"],  # type: ignore[arg-type]
        )

    manager = Person("m", "m", "m@x", "Europe/Stockholm", "SE", "local", "m")
    chosen = [draw(st.sampled_from(kinds)) for _ in range(draw(st.integers(2, 7)))]
    sellers = tuple(member(f"s{i}", kind) for i, kind in enumerate(chosen))
    shared = {k["id"]: draw(calendars(sellers[0], MONTH, FIRST, LAST)) for k in kinds}
    busy: dict[str, tuple[Busy, ...]] = {"m": draw(calendars(manager, MONTH, FIRST, LAST))}
    previous: dict[str, datetime] = {}
    for seller, kind in zip(sellers, chosen, strict=True):
        # Most share their kind's calendar (identical); some have their own.
        own = draw(st.integers(0, 3)) == 0
        busy[seller.id] = (
            draw(calendars(seller, MONTH, FIRST, LAST)) if own else shared[int(kind["id"])]  # type: ignore[call-overload]
        )
        if isinstance(kind["previous"], datetime):
            previous[seller.id] = kind["previous"]
    policy = Policy(
        session_minutes=draw(st.sampled_from((45, 60))),
        buffer_minutes=draw(st.sampled_from((0, 10))),
        earliest_day=FIRST,
        latest_day=LAST,
        lead_time_hours=24,
        max_sessions_per_manager_day=draw(st.integers(1, 3)),
        max_minutes_per_manager_week=draw(st.sampled_from((90, 180, 240))),
        sessions_per_seller=draw(st.sampled_from((1, 1, 1, 2))),
        slot_step_minutes=30,
        preferred_hours=draw(st.none() | st.just((time(9), time(12)))),
        preferred_weekdays=draw(st.sampled_from((frozenset(), frozenset({1, 3})))),
        solver_time_limit_seconds=60.0,
    )
    now = datetime(2026, 10, FIRST, tzinfo=UTC) - timedelta(hours=draw(st.integers(0, 72)))
    return TeamProblem(
        Team("t", "T", manager, sellers),
        policy,
        MONTH,
        now,
        busy,
        tuple(s.id for s in sellers),
        previous=previous,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(teams_with_twins())
def test_aggregated_model_reaches_the_same_optimum(problem: TeamProblem) -> None:
    aggregated = plan_team(problem)
    with patch("scheduler.planning.planner.interchangeable", _one_each):
        separate = plan_team(problem)
    assert aggregated.optimal and separate.optimal
    assert plan_problems(problem, aggregated) == []
    assert score(problem, aggregated) == score(problem, separate)
    assert aggregated.upper_bound == separate.upper_bound
    assert len(aggregated.unbookable) == len(separate.unbookable)
    assert all(u.reason for u in aggregated.unbookable)
    assert plan_team(problem) == aggregated  # deterministic


def test_a_quiet_team_is_one_class_handed_out_in_team_order() -> None:
    # The end-to-end benchmark's case: 15 sellers, empty calendars.
    def person(pid: str) -> Person:
        return Person(pid, pid, f"{pid}@x", "Europe/Stockholm", "SE", "local", pid)

    team = Team("t", "T", person("m"), tuple(person(f"s{i:02}") for i in range(15)))
    policy = Policy(session_minutes=45, buffer_minutes=10, lead_time_hours=24)
    problem = TeamProblem(
        team,
        policy,
        Month(2031, 3),
        datetime(2031, 2, 20, 8, tzinfo=UTC),
        {},
        tuple(s.id for s in team.sellers),
    )
    seen: list[list[tuple[int, ...]]] = []

    def spy(candidates: Mapping[int, Signature], needs: Mapping[int, int]) -> list[tuple[int, ...]]:
        seen.append(interchangeable(candidates, needs))
        return seen[-1]

    with patch("scheduler.planning.planner.interchangeable", spy):
        plan = plan_team(problem)
    assert seen == [[tuple(range(15))]]
    assert plan.optimal and plan.upper_bound == 15 and plan_problems(problem, plan) == []
    # Earliest start to the first seller in team order, and so on.
    assert [p.seller_id for p in plan.proposals] == [s.id for s in team.sellers]
    with patch("scheduler.planning.planner.interchangeable", _one_each):
        assert score(problem, plan_team(problem)) == score(problem, plan)


def test_classes_need_one_session_and_equal_candidates() -> None:
    same = ((100, 0), (130, 0))
    candidates = {0: same, 1: ((100, 0), (130, 1)), 2: same, 3: same, 4: same}
    needs = {0: 1, 1: 1, 2: 1, 3: 2, 4: 1}
    # Seller 1 scores a start differently; seller 3 needs two sessions.
    assert interchangeable(candidates, needs) == [(0, 2, 4), (1,), (3,)]


def test_hand_out_gives_earliest_starts_in_team_order() -> None:
    classes = [(0, 2, 4), (1,), (3,)]
    chosen = {0: [130, 100], 1: [160], 3: [190, 220]}
    assert hand_out(classes, chosen) == {0: [100], 2: [130], 1: [160], 3: [190, 220]}
    assert symmetry.hand_out([(5, 6)], {}) == {}


def test_previous_session_sets_sellers_apart() -> None:
    # Same everything but last month's slot: the "same time as last month" tier
    # tells them apart, so each keeps its own variables and its own time.
    def person(pid: str) -> Person:
        return Person(pid, pid, f"{pid}@x", "Europe/Stockholm", "SE", "local", pid)

    team = Team("t", "T", person("m"), (person("a"), person("b")))
    sthlm = ZoneInfo("Europe/Stockholm")
    previous = {
        "a": datetime.combine(date(2031, 2, 4), time(14), sthlm),  # a Tuesday
        "b": datetime.combine(date(2031, 2, 6), time(10), sthlm),  # a Thursday
    }
    problem = TeamProblem(
        team,
        Policy(lead_time_hours=24),
        Month(2031, 3),
        datetime(2031, 2, 20, 8, tzinfo=UTC),
        {},
        ("a", "b"),
        previous=previous,
    )
    plan = plan_team(problem)
    starts = {p.seller_id: p.start.astimezone(sthlm) for p in plan.proposals}
    assert (starts["a"].weekday(), starts["a"].time()) == (1, time(14))
    assert (starts["b"].weekday(), starts["b"].time()) == (3, time(10))
