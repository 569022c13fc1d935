"""Planner benchmark: CP-SAT against greedy first-fit on generated organisations.

    .venv/bin/python benchmarks/planner.py            # 1, 10, 100, 700 managers
    .venv/bin/python benchmarks/planner.py --quick    # 1 and 10 managers (make bench)
    .venv/bin/python benchmarks/planner.py --sizes 700 --busy 0.8
    .venv/bin/python benchmarks/planner.py --history  # a second month (see below)
    .venv/bin/python benchmarks/planner.py --sizes 770 --busy 0 0.4 0.8

Organisations have 10-16 sellers per manager, a few sellers abroad (London, New
York), and calendars at about 40, 60 and 80 % busy: recurring weeklies, meetings in
blocks of 30-120 minutes, and out-of-office days. `--busy 0` is empty calendars (no
out-of-office either), a new organisation's quiet month, where most sellers of a
team have the very same candidate slots. Prints, per size and busy level:
sellers to book, the upper bound (sellers with any feasible slot), booked by each
planner, teams proven optimal, wall time, peak memory (this process and its workers),
and the CP-SAT / greedy ratio, and the median and slowest team's CP-SAT time.

`--history` makes it a realistic second month: every seller has last month's session
(the "same weekday and time" tier), the policy and some people prefer hours and the
policy prefers Tue-Thu, one or two sellers per team already have this month's session
standing (fixed, and busy in the manager's calendar), a 10-minute buffer, and people
in four zones. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time as clock
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import Busy, BusyKind
from scheduler.model import Month, Person, Policy, Team
from scheduler.planning.availability import team_availability
from scheduler.planning.planner import greedy_plan, plan_teams
from scheduler.planning.problem import FixedSession, TeamPlan, TeamProblem

MONTH = Month(2026, 3)  # has the European DST change
NOW = datetime(2026, 2, 20, 8, 0, tzinfo=ZoneInfo("UTC"))
ABROAD = (("Europe/London", "GB"), ("America/New_York", "US"))
#: --history: people in four zones.
ZONES = (("Europe/Helsinki", "FI"), ("Europe/London", "GB"), ("America/New_York", "US"))


def _person(pid: str, rng: random.Random, history: bool = False) -> Person:
    tz, country = ("Europe/Stockholm", "SE")
    if pid.startswith("s") and rng.random() < (0.3 if history else 0.1):
        tz, country = rng.choice(ZONES if history else ABROAD)
    preferred = None
    if history and rng.random() < 0.3:
        begin = rng.choice((9, 10, 13))
        preferred = (time(begin), time(begin + 3))
    return Person(
        pid, pid, f"{pid}@example.com", tz, country, "local", pid, preferred_hours=preferred
    )


def _last_month(person: Person, manager_tz: ZoneInfo, rng: random.Random) -> datetime:
    """A plausible previous session: a weekday of last month, 09:00-15:30 manager time."""
    prev = MONTH.previous()
    while True:
        d = date(prev.year, prev.month, rng.randint(1, 28))
        if d.weekday() < 5:
            return datetime.combine(d, time(rng.randint(9, 15), rng.choice((0, 30))), manager_tz)


def _calendar(person: Person, busy_share: float, rng: random.Random) -> tuple[Busy, ...]:
    """Busy time over the month's working hours at about `busy_share`."""
    tz = ZoneInfo(person.timezone)
    first, last = MONTH.first_day - timedelta(days=1), MONTH.last_day + timedelta(days=1)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    workdays = [d for d in days if d.weekday() < 5]
    out: list[Busy] = []
    if busy_share <= 0:
        return ()  # empty calendars: nothing busy, nobody away
    # Out of office: a couple of days for about one person in five.
    oof: set[date] = set()
    if rng.random() < 0.2:
        start = rng.randrange(len(workdays))
        oof = set(workdays[start : start + rng.randint(1, 3)])
        for d in sorted(oof):
            out.append(
                Busy(
                    datetime.combine(d, time(0), tzinfo=tz),
                    datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz),
                    BusyKind.OOF,
                )
            )
    # Recurring weeklies: same weekday and time every week (a third of the load).
    weekly: list[tuple[int, int, int]] = []
    weekly_minutes = 0
    while weekly_minutes < busy_share * 5 * 480 / 3:
        length = rng.choice((30, 30, 60, 60, 90))
        weekly.append((rng.randrange(5), rng.randrange(0, 480 - length, 30), length))
        weekly_minutes += length
    for d in workdays:
        if d in oof:
            continue
        taken = [False] * 16  # half hours 09:00-17:00
        for weekday, offset, length in weekly:
            if weekday == d.weekday():
                for h in range(offset // 30, (offset + length) // 30):
                    taken[h] = True
        target = round(busy_share * 16)
        tries = 0
        while sum(taken) < target and tries < 50:
            tries += 1
            length = rng.choice((1, 1, 2, 2, 2, 3, 4))  # 30-120 minutes
            at = rng.randrange(0, 16 - length + 1)
            for h in range(at, at + length):
                taken[h] = True
        h = 0
        while h < 16:
            if taken[h]:
                end = h
                while end < 16 and taken[end]:
                    end += 1
                kind = BusyKind.TENTATIVE if rng.random() < 0.1 else BusyKind.BUSY
                start_dt = datetime.combine(d, time(9), tzinfo=tz) + timedelta(minutes=30 * h)
                out.append(Busy(start_dt, start_dt + timedelta(minutes=30 * (end - h)), kind))
                h = end
            else:
                h += 1
    return tuple(out)


def organisation(
    managers: int, busy_share: float, seed: int, history: bool = False
) -> list[TeamProblem]:
    rng = random.Random(seed)
    policy = Policy(solver_time_limit_seconds=10.0)
    if history:
        policy = Policy(
            solver_time_limit_seconds=10.0,
            buffer_minutes=10,
            preferred_hours=(time(9), time(12)),
            preferred_weekdays=frozenset({1, 2, 3}),
        )
    problems: list[TeamProblem] = []
    for t in range(managers):
        manager = _person(f"m{t}", rng)
        sellers = tuple(_person(f"s{t}_{n}", rng, history) for n in range(rng.randint(10, 16)))
        busy = {p.id: _calendar(p, busy_share, rng) for p in (manager, *sellers)}
        team = Team(f"t{t}", f"Team {t}", manager, sellers)
        to_book = tuple(s.id for s in sellers)
        fixed: tuple[FixedSession, ...] = ()
        previous: dict[str, datetime] = {}
        if history:
            mtz = ZoneInfo(manager.timezone)
            previous = {s.id: _last_month(s, mtz, rng) for s in sellers}
            standing = []
            for seller in rng.sample(sellers, rng.randint(1, 2)):
                day = date(MONTH.year, MONTH.month, rng.randint(2, 6))
                while day.weekday() >= 5:
                    day += timedelta(days=1)
                start = datetime.combine(day, time(rng.randint(9, 15)), mtz)
                standing.append(FixedSession(seller.id, start, start + timedelta(minutes=45)))
            fixed = tuple(standing)
            busy[manager.id] = busy[manager.id] + tuple(Busy(f.start, f.end) for f in fixed)
            to_book = tuple(s for s in to_book if s not in {f.seller_id for f in fixed})
        problems.append(
            TeamProblem(team, policy, MONTH, NOW, busy, to_book, fixed=fixed, previous=previous)
        )
    return problems


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def _booked(plans: list[TeamPlan]) -> int:
    return sum(len({p.seller_id for p in plan.proposals}) for plan in plans)


def run(
    managers: int, busy_share: float, workers: int | None, history: bool = False
) -> dict[str, float]:
    seed = managers * 1000 + int(busy_share * 100)
    problems = organisation(managers, busy_share, seed, history)
    sellers = sum(len(p.to_book) for p in problems)
    upper = sum(sum(1 for s in team_availability(p).sellers if s.starts) for p in problems)
    t0 = clock.perf_counter()
    greedy = [greedy_plan(p) for p in problems]
    t_greedy = clock.perf_counter() - t0
    t0 = clock.perf_counter()
    plans = plan_teams(problems, workers=workers)
    t_cpsat = clock.perf_counter() - t0
    # Per-team solve times, one team at a time in this process (no pool noise).
    sample = problems[: min(len(problems), 30)]
    per_team = []
    for problem in sample:
        t1 = clock.perf_counter()
        plan_teams([problem], workers=1)
        per_team.append(clock.perf_counter() - t1)
    per_team.sort()
    own, kids = _peak_mb()
    g, c = _booked(greedy), _booked(plans)
    return {
        "managers": managers,
        "busy": busy_share,
        "sellers": sellers,
        "upper": upper,
        "greedy": g,
        "cpsat": c,
        "optimal": sum(p.optimal for p in plans),
        "teams": len(plans),
        "t_greedy": t_greedy,
        "t_cpsat": t_cpsat,
        "mem_own": own,
        "mem_kids": kids,
        "team_median": per_team[len(per_team) // 2],
        "team_max": per_team[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 managers only")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--busy", type=float, nargs="*", default=None)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    parser.add_argument(
        "--history", action="store_true", help="a second month: history, preferences, standing"
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or ([1, 10] if args.quick else [1, 10, 100, 700])
    levels = args.busy or [0.4, 0.6, 0.8]
    head = (
        f"{'managers':>8} {'busy':>5} {'sellers':>7} {'upper':>6} {'greedy':>6} {'cp-sat':>6} "
        f"{'ratio':>6} {'optimal':>9} {'greedy s':>8} {'cp-sat s':>8} {'peak MB':>14} "
        f"{'team med':>8} {'team max':>8}"
    )
    print(head)
    print("-" * len(head))
    for size in sizes:
        for level in levels:
            r = run(size, level, args.workers, args.history)
            ratio = r["cpsat"] / r["greedy"] if r["greedy"] else float("nan")
            print(
                f"{r['managers']:>8} {r['busy']:>5.0%} {r['sellers']:>7} {r['upper']:>6} "
                f"{r['greedy']:>6} {r['cpsat']:>6} {ratio:>6.3f} "
                f"{r['optimal']:>4}/{r['teams']:<4} {r['t_greedy']:>8.2f} {r['t_cpsat']:>8.2f} "
                f"{r['mem_own']:>6.0f}+{r['mem_kids']:<6.0f} "
                f"{r['team_median']:>8.2f} {r['team_max']:>8.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
