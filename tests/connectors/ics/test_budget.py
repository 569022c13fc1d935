"""The step budget counts dateutil's recurrence loop without a tracer (`ics.budget`):
a rule that matches no date is stopped inside a guard, in that thread only, and
dateutil works as before outside one. The messages a person sees for runaway rules
are checked in test_defects.py; the fuzz and benchmark cases in test_fuzz_busy.py
and benchmarks/ics_busy.py."""

from __future__ import annotations

import sys
import threading
from datetime import datetime

import pytest
from dateutil.rrule import rrulestr

from connectors.ics import budget
from connectors.ics.budget import BudgetExceeded, StepBudget

NOTHING = "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"  # walks to the year 9999
START = datetime(2031, 3, 1)


def walk_to_the_end(rule: str) -> list[datetime]:
    return list(rrulestr(rule, dtstart=START).xafter(START, count=1))


def test_this_dateutil_is_counted_without_a_tracer() -> None:
    # Should a dateutil upgrade change its loop, the tracer fallback runs: slow, so
    # this says it here rather than in a benchmark nobody reads.
    assert budget.COUNTING
    seen = []
    with StepBudget(10).guard():
        seen.append(sys.gettrace())
    assert seen == [None]


def test_a_rule_that_matches_nothing_is_stopped_at_the_budget() -> None:
    spent = StepBudget(500)
    with pytest.raises(BudgetExceeded, match="more than 500 recurrence steps"), spent.guard():
        walk_to_the_end(NOTHING)
    assert spent.left < 0


def test_steps_are_periods_and_grants_extend_them() -> None:
    spent = StepBudget(1_000)
    with spent.guard():
        found = list(rrulestr("FREQ=DAILY;COUNT=30", dtstart=START))
    assert len(found) == 30
    used = 1_000 - spent.left
    assert 30 <= used <= 40  # one per day, plus the set-up
    spent.grant(5)
    assert spent.steps == 1_005 and spent.left == 1_005 - used


def test_outside_a_guard_and_in_other_threads_nothing_is_counted() -> None:
    daily = "FREQ=DAILY;COUNT=3000"  # 3,000 periods, above the budget below
    assert len(list(rrulestr(daily, dtstart=START))) == 3000
    other: list[int] = []
    spent = StepBudget(100)
    with spent.guard():
        worker = threading.Thread(
            target=lambda: other.append(len(list(rrulestr(daily, dtstart=START))))
        )
        worker.start()
        worker.join()
    assert other == [3000] and spent.left == 100


def test_nested_guards_count_the_inner_one_and_restore_the_outer() -> None:
    outer, inner = StepBudget(1_000), StepBudget(1_000)
    with outer.guard():
        with inner.guard():
            list(rrulestr("FREQ=DAILY;COUNT=10", dtstart=START))
        list(rrulestr("FREQ=DAILY;COUNT=10", dtstart=START))
    assert inner.left < 1_000 and outer.left < 1_000
    assert 1_000 - outer.left == 1_000 - inner.left
