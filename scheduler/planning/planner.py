"""The team planner: as many sellers as possible, then the best such plan.

One CP-SAT model per team (teams share nothing, so they are solved in parallel):

- a Boolean per candidate slot (seller, start) from `scheduler.planning.availability`;
- an optional fixed-size interval per slot, `session + buffer` long, and no overlap
  between them per manager-day (as its exact clique cover, see `_no_overlap`), so
  two sessions are always a buffer apart (standing sessions were already cut out
  of the candidates with their buffer);
- at most `need` sessions per seller (one unless the policy asks for more, and then
  on different days); per manager-day a session cap, per ISO week a minutes cap;
- sellers the model cannot tell apart (same candidates and scores, one session
  each) share one Boolean per start and "at most |class|" (exact; see `symmetry`).

Objective, in strict priority: (1) sessions booked, (2) even spread over the weeks
(sum of squared sessions per week, via convex marginal costs), (3) preferred
hours/weekdays, (4) same weekday/time as the previous session, (5) earlier days.
Preferences outrank "earlier" so that they decide on quiet calendars too (with
"earlier" above them, every session of an empty month landed on its first Monday);
"earlier" is the last tie-break, which keeps room for rebooking later in the month.
Tiers 1-4 are one weighted objective whose weights come from each lower tier's
largest possible total (weight of a tier = 1 + the most all lower tiers together can
add), so their order is exact in a single solve; tier 5 is then minimised in a second
solve constrained to the first one's optimum (see `_solve` for why). Both share the
policy's time limit, and "proven optimal" means both were proven. Coefficients stay
far below CP-SAT's int64 limit.

Determinism: one search worker per team, a fixed seed, variables built in team
order. The time limit is wall-clock (the policy's), so only a plan cut short by it
can differ between runs; such a plan says `optimal=False` and how many sellers
more any plan could book at most (`upper_bound`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from ortools.sat.python import cp_model

from scheduler.planning.availability import SellerSlots, TeamAvailability, team_availability
from scheduler.planning.dominance import stops
from scheduler.planning.explain import caps_diagnosis, reason
from scheduler.planning.greedy import greedy_starts
from scheduler.planning.objective import MAX_PREFERENCE, MAX_PREVIOUS, SlotScorer
from scheduler.planning.problem import Proposal, TeamPlan, TeamProblem, Unbookable
from scheduler.planning.symmetry import hand_out, interchangeable

SEED = 20240601


@dataclass(frozen=True)
class _Candidate:
    seller: int  # index into availability.sellers
    start: int
    day: int  # tier 5 (days after the month's first day)
    week: tuple[int, int]
    taste: int  # tiers 3-4 folded: preferences missed, then distance from last month


def _candidates(av: TeamAvailability) -> tuple[list[_Candidate], int, int]:
    """Slots that can be used at all, with their tier 3-4 score; the weight the
    spread tier needs above those scores; and the number of sessions to place."""
    policy = av.problem.policy
    scorer = SlotScorer(av)
    need = sum(s.need for s in av.sellers if s.starts)
    # A tier's weight is 1 + the most all lower tiers together can add.
    w_pref = need * MAX_PREVIOUS + 1
    fixed_day: dict[int, int] = {}
    fixed_week: dict[tuple[int, int], int] = {}
    for start, end in av.fixed:
        if 0 <= av.day_of(start) < len(av.day_dates):
            fixed_day[av.day_of(start)] = fixed_day.get(av.day_of(start), 0) + 1
            fixed_week[av.week_of(start)] = fixed_week.get(av.week_of(start), 0) + end - start
    out: list[_Candidate] = []
    useful = stops(av, scorer)
    weeks = [d.isocalendar()[:2] for d in av.day_dates]
    has_prefs = bool(
        policy.preferred_hours
        or policy.preferred_weekdays
        or av.problem.team.manager.preferred_hours
    )
    for index, slots in enumerate(av.sellers):
        seller = slots.seller
        prefs = has_prefs or seller.preferred_hours is not None
        prev = seller.id in av.problem.previous
        mine = useful[index]
        for start in slots.starts:
            if start not in mine:
                continue
            day = av.day_of(start)
            week = weeks[day]
            if fixed_day.get(day, 0) >= policy.max_sessions_per_manager_day:
                continue
            if fixed_week.get(week, 0) + av.session > policy.max_minutes_per_manager_week:
                continue
            taste = 0
            if prefs:
                taste += w_pref * scorer.preference(seller, start)
            if prev:
                taste += scorer.previous(seller, start)
            out.append(_Candidate(index, start, day, week, taste))
    ceiling = w_pref * (need * MAX_PREFERENCE + 1)  # more than tiers 3-4 can ever add up to
    return out, ceiling, need


def _no_overlap(
    model: cp_model.CpModel, slots: list[tuple[int, cp_model.IntVar]], length: int
) -> None:
    """No two chosen `[start, start + length)` overlap.

    This is the no-overlap of optional fixed-size intervals written as its exact
    clique cover: with fixed starts, two intervals overlap exactly when one contains
    the other's start, so "at most one interval holds each start point" (maximal
    sets only) is the same constraint. CP-SAT proves the same optima with it about
    15 % faster than with `add_no_overlap` on interval variables (measured on the
    benchmark's teams), which is what keeps 10,000 sellers under 10 s here.
    """
    slots.sort(key=lambda item: item[0])
    lo = 0
    for hi in range(len(slots)):
        while slots[lo][0] + length <= slots[hi][0]:
            lo += 1
        # slots[lo..hi] all hold the instant slots[hi].start; skip it when the next
        # slot's set is a superset (same lo).
        if hi + 1 < len(slots) and slots[lo][0] + length > slots[hi + 1][0]:
            continue
        if hi > lo:
            model.add_at_most_one([var for _, var in slots[lo : hi + 1]])


def _solve(av: TeamAvailability) -> tuple[dict[int, list[int]], bool, int | None]:
    """seller index -> chosen starts; proven optimal?; upper bound on sessions."""
    policy = av.problem.policy
    every, w_spread, need = _candidates(av)
    if not every:
        return {}, True, 0
    # One set of variables per class of interchangeable sellers (see `symmetry`):
    # the candidates of each class's first member stand for the whole class.
    signatures: dict[int, list[tuple[int, int]]] = {}
    for c in every:
        signatures.setdefault(c.seller, []).append((c.start, c.taste))
    classes = interchangeable(
        {seller: tuple(sig) for seller, sig in signatures.items()},
        {seller: av.sellers[seller].need for seller in signatures},
    )
    size = {members[0]: len(members) for members in classes}
    owner = {seller: members[0] for members in classes for seller in members}
    cands = [c for c in every if c.seller in size]
    # Without preferences or history (tiers 3-4 all zero) tier 5 folds into the one
    # solve at no cost: the model is then as small as it gets, and one solve is
    # about twice as fast as two on loose calendars (measured on the benchmark).
    fold_days = all(c.taste == 0 for c in cands)
    if fold_days:
        w_spread = need * max(len(av.day_dates) - 1, 0) + 1
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{i}") for i in range(len(cands))]
    gap = av.session + av.buffer
    by_day: dict[int, list[int]] = {}
    by_week: dict[tuple[int, int], list[int]] = {}
    by_seller: dict[int, list[int]] = {}
    for i, c in enumerate(cands):
        by_day.setdefault(c.day, []).append(i)
        by_week.setdefault(c.week, []).append(i)
        by_seller.setdefault(c.seller, []).append(i)
    fixed_day: dict[int, int] = {}
    fixed_week: dict[tuple[int, int], int] = {}
    fixed_count: dict[tuple[int, int], int] = {}
    for start, end in av.fixed:
        if 0 <= av.day_of(start) < len(av.day_dates):
            fixed_day[av.day_of(start)] = fixed_day.get(av.day_of(start), 0) + 1
            fixed_week[av.week_of(start)] = fixed_week.get(av.week_of(start), 0) + end - start
            fixed_count[av.week_of(start)] = fixed_count.get(av.week_of(start), 0) + 1

    for seller, idx in by_seller.items():
        slots = av.sellers[seller]
        # A class of interchangeable sellers (each needs one) takes |class| starts.
        most = slots.need if size[seller] == 1 else size[seller]
        model.add(cp_model.LinearExpr.sum([x[i] for i in idx]) <= most)
        if slots.need > 1:
            per_day: dict[int, list[int]] = {}
            for i in idx:
                per_day.setdefault(cands[i].day, []).append(i)
            for same in per_day.values():
                model.add_at_most_one(x[i] for i in same)
    for day, idx in by_day.items():
        cap = policy.max_sessions_per_manager_day - fixed_day.get(day, 0)
        if cap < len(idx):
            model.add(cp_model.LinearExpr.sum([x[i] for i in idx]) <= cap)
        if len(idx) > 1:
            _no_overlap(model, [(cands[i].start, x[i]) for i in idx], gap)
    week_cap = {
        w: (policy.max_minutes_per_manager_week - fixed_week.get(w, 0)) // av.session
        for w in by_week
    }
    # Tier 2: the k-th new session in a week costs (2(f+k)-1): convex, so the solver
    # fills cheaper (emptier) weeks first and the total is sum(n_w^2) - sum(f_w^2).
    spread_terms: list[tuple[cp_model.IntVar, int]] = []
    fixed_sessions = len(av.fixed)
    for week, idx in by_week.items():
        most = min(len(idx), week_cap[week], need)
        if week_cap[week] < len(idx):
            model.add(cp_model.LinearExpr.sum([x[i] for i in idx]) <= week_cap[week])
        f = fixed_count.get(week, 0)
        steps = [model.new_bool_var(f"w{week}k{k}") for k in range(most)]
        model.add(cp_model.LinearExpr.sum(steps) == cp_model.LinearExpr.sum([x[i] for i in idx]))
        for k, step in enumerate(steps):
            spread_terms.append((step, 2 * (f + k + 1) - 1))
    max_spread = (fixed_sessions + need) ** 2
    w_count = w_spread * (max_spread + 1)
    # Tiers 1-4 as one weighted objective, then tier 5 ("earlier days", the last
    # tie-break) in a second solve under the first one's optimum. Folding tier 5 into
    # the same sum made the weights 30x larger and left a few units of "earlier" that
    # CP-SAT could not close within 10 s once teams had last month's sessions (many
    # equally good slots); two small solves prove both optima in a fraction of that.
    upper_vars = [*x, *(var for var, _ in spread_terms)]
    upper_coefs = [
        *((c.day if fold_days else c.taste) - w_count for c in cands),
        *(w_spread * coef for _, coef in spread_terms),
    ]
    upper = cp_model.LinearExpr.weighted_sum(upper_vars, upper_coefs)
    model.minimize(upper)
    # Greedy first-fit as the starting solution: feasible, usually near the optimum.
    hint = greedy_starts(av)
    chosen_hint = {
        (owner[index], s)
        for index, sl in enumerate(av.sellers)
        if index in owner
        for s in hint[sl.seller.id]
    }
    for i, c in enumerate(cands):
        if (c.seller, c.start) in chosen_hint:
            model.add_hint(x[i], True)

    limit = float(policy.solver_time_limit_seconds)
    solver = _solver(limit)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # Nothing found within the limit: fall back to the hint, which is feasible.
        by_index = {i: hint[sl.seller.id] for i, sl in enumerate(av.sellers)}
        return by_index, False, sum(s.need for s in av.sellers if s.starts)
    picked = [solver.boolean_value(v) for v in x]
    first_optimal = optimal = status == cp_model.OPTIMAL
    if first_optimal and not fold_days:
        model.add(upper <= round(solver.objective_value))
        model.clear_hints()
        for var, on in zip(x, picked, strict=True):
            model.add_hint(var, on)
        model.minimize(cp_model.LinearExpr.weighted_sum(x, [c.day for c in cands]))
        second = _solver(max(0.5, limit - solver.wall_time))
        status = second.solve(model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            picked = [second.boolean_value(v) for v in x]
        optimal = status == cp_model.OPTIMAL
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(cands):
        if picked[i]:
            by_class.setdefault(c.seller, []).append(c.start)
    chosen = hand_out(classes, by_class)
    booked = sum(len(v) for v in chosen.values())
    if first_optimal:
        # Tier 1 is proven with the first solve: the count is the most possible.
        return chosen, optimal, booked
    # objective >= -w_count * booked_max, so booked_max <= ceil(-bound / w_count).
    bound = solver.best_objective_bound
    ceiling = -(int(bound) // w_count)
    return chosen, False, min(need, max(booked, ceiling))


def _solver(seconds: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = SEED
    solver.parameters.max_time_in_seconds = seconds
    # Presolve, probing and symmetry detection cost more than they save on these
    # small models that are already cliques and a few linear rows (measured on the
    # benchmark's teams: about 2x faster per team in all, same proven optima).
    solver.parameters.cp_model_presolve = False
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.symmetry_level = 0
    return solver


def _plan(
    av: TeamAvailability,
    chosen: dict[int, list[int]],
    optimal: bool,
    upper: int | None,
    solver: str,
) -> TeamPlan:
    proposals: list[Proposal] = []
    unbookable: list[Unbookable] = []
    planned = [s for starts in chosen.values() for s in starts]
    length = timedelta(minutes=av.session)
    for index, slots in enumerate(av.sellers):
        starts = sorted(chosen.get(index, []))
        for start in starts:
            begin = av.to_datetime(start)
            proposals.append(Proposal(slots.seller.id, begin, begin + length))
        if len(starts) < slots.need and not starts:
            unbookable.append(Unbookable(slots.seller.id, _why(slots, av, planned, optimal)))
    team = av.problem.team
    members = {s.id for s in team.sellers}
    for seller_id in av.problem.to_book:
        if seller_id not in members:
            unbookable.append(
                Unbookable(seller_id, f"not a seller of team {team.id} in the configuration")
            )
    proposals.sort(key=lambda p: (p.start, p.seller_id))
    return TeamPlan(
        team_id=av.problem.team.id,
        proposals=tuple(proposals),
        unbookable=tuple(unbookable),
        optimal=optimal,
        upper_bound=upper,
        solver=solver,
    )


def _why(slots: SellerSlots, av: TeamAvailability, planned: list[int], complete: bool) -> str:
    diagnosis = slots.diagnosis or caps_diagnosis(slots, av, planned, complete)
    return reason(diagnosis, slots.seller, av)


def plan_team(problem: TeamProblem) -> TeamPlan:
    """The best plan for one team (CP-SAT). Deterministic for the same problem."""
    av = team_availability(problem)
    chosen, optimal, upper = _solve(av)
    return _plan(av, chosen, optimal, upper, "cp-sat")


def greedy_plan(problem: TeamProblem) -> TeamPlan:
    """Baseline: each seller in team order takes the earliest slot still feasible."""
    av = team_availability(problem)
    hint = greedy_starts(av)
    chosen = {i: hint[sl.seller.id] for i, sl in enumerate(av.sellers) if hint[sl.seller.id]}
    upper = sum(s.need for s in av.sellers if s.starts)
    return _plan(av, chosen, False, upper, "greedy")


# ---------------------------------------------------------------------------
# Many teams
# ---------------------------------------------------------------------------

_SHARED: Sequence[TeamProblem] = ()


def _plan_shared(index: int) -> TeamPlan:
    return plan_team(_SHARED[index])


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: a worker ends when the process that forked it is gone.

    A forked worker inherits every open file of `book`, among them the booking lock
    (a `flock`ed file, or the PostgreSQL connection holding the advisory lock). If
    `book` is killed (`kill -9`, OOM) while planning, orphaned workers would keep
    that lock forever and every later `book` would wait for it in vain."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def plan_teams(problems: Sequence[TeamProblem], workers: int | None = None) -> list[TeamPlan]:
    """Plan every team, in parallel processes (one per core by default); plans come
    back in the order of `problems`. `workers=1` plans in this process.

    Where the OS can fork, children read the problems from the parent's memory
    (copy-on-write) instead of having them pickled: busy lists are the bulk of the
    input and pickling them cost more than solving loose teams. The children run
    only this pure code (no logging, no I/O), so locks held by other threads of a
    forking service cannot deadlock them.
    """
    global _SHARED
    count = workers or os.cpu_count() or 1
    count = min(count, len(problems))
    if count <= 1:
        return [plan_team(p) for p in problems]
    # Small chunks: a slow team at the end of a big chunk would leave a core idle.
    chunk = max(1, min(8, len(problems) // (count * 16)))
    if "fork" in multiprocessing.get_all_start_methods():
        _SHARED = problems
        try:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                max_workers=count,
                mp_context=ctx,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            ) as pool:
                return list(pool.map(_plan_shared, range(len(problems)), chunksize=chunk))
        finally:
            _SHARED = ()
    with ProcessPoolExecutor(
        max_workers=count, initializer=_exit_with_parent, initargs=(os.getpid(),)
    ) as pool:
        return list(pool.map(plan_team, problems, chunksize=chunk))
