"""A deterministic work budget for dateutil's recurrence loop.

dateutil's `rrule` walks a rule period by period and checks UNTIL and COUNT only on
occurrences it produces. A rule that matches nothing after some point (for example
`FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`, or a COUNT with BY... parts that cannot be
skipped ahead) makes it walk day by day to the year 9999 (15-80 s) whatever UNTIL
says, and `between` cannot be interrupted from outside.

The loop makes one Python call per period (its day-set helpers), so counting the
calls made inside `dateutil.rrule` bounds it: above the budget the expansion is
aborted with `BudgetExceeded`, the same way for the same input on every machine (no
clock). Only the current thread is traced; a tracer already installed (a debugger,
coverage) keeps running. (Within one period, SECONDLY/MINUTELY rules with BYHOUR or
BYMINUTE filters loop without a call; `ics.rules.MAX_WALK` bounds those up front.)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import dateutil.rrule

_RRULE_FILE = dateutil.rrule.__file__

#: Calls inside dateutil.rrule one calendar may make besides those that produced an
#: occurrence (each occurrence counted grants `PER_OCCURRENCE` more): a rule that
#: matches nothing stops after STEPS, well under a second (benchmarks/ics_busy.py);
#: a normal month of a normal calendar takes a few hundred.
STEPS = 20_000
PER_OCCURRENCE = 8
#: Each series gets a few steps of its own too: a calendar of 2,000 weekly series that
#: ended years ago is normal, and each takes ~10 steps to find it has nothing to say.
PER_SERIES = 100


class BudgetExceeded(Exception):
    """The recurrence expansion needed more steps than its budget."""


class StepBudget:
    """Steps one calendar may spend, shared by every expansion made for it."""

    def __init__(self, steps: int = STEPS) -> None:
        self.steps = steps
        self.left = steps

    def grant(self, steps: int) -> None:
        """More steps, for work that produced results (occurrences)."""
        self.steps += steps
        self.left += steps

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Abort dateutil's rrule iteration inside this block once the budget is spent.
        (CPython drops a tracer that raised, so each block installs it anew.)"""
        previous: Any = sys.gettrace()

        def tracer(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "call" and frame.f_code.co_filename == _RRULE_FILE:
                self.left -= 1
                if self.left < 0:
                    raise BudgetExceeded(f"more than {self.steps} recurrence steps")
            return previous(frame, event, arg) if previous is not None else None

        sys.settrace(tracer)
        try:
            yield
        finally:
            sys.settrace(previous)
