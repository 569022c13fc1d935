"""A deterministic work budget for dateutil's recurrence loop.

dateutil's `rrule` walks a rule period by period and checks UNTIL and COUNT only on
occurrences it produces. A rule that matches nothing after some point (for example
`FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`, or a COUNT with BY... parts that cannot be
skipped ahead) makes it walk day by day to the year 9999 (15-80 s) whatever UNTIL
says, and `between` cannot be interrupted from outside.

Every period of that loop asks its `_iterinfo` helper for the period's days (one
`*dayset` call per period; `rebuild` per new month or year; `*timeset` per period of
HOURLY and finer rules). Those are the steps counted: dateutil's `_iterinfo` is
replaced, once and process-wide, by a subclass that charges each such call to the
budget active in the current thread (`StepBudget.guard`); above the budget the
expansion is aborted with `BudgetExceeded`, the same way for the same input on every
machine (no clock). Without an active budget the subclass only looks the budget up,
so other users of dateutil see no difference.

This replaced a `sys.settrace` tracer counting calls into `dateutil.rrule`: the same
bound, but the tracer slowed every Python call while a calendar was expanded (2-3x on
a whole month). Should a dateutil release stop building its loop on `_iterinfo`, the
tracer is used again (`COUNTING` says which one runs; a test pins it). (Within one
period, SECONDLY/MINUTELY rules with BYHOUR or BYMINUTE filters loop without a call;
`ics.rules.MAX_WALK` bounds those up front.)
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import dateutil.rrule

_RRULE_FILE = dateutil.rrule.__file__

#: Steps one calendar may spend besides those that produced an occurrence (each
#: occurrence counted grants `PER_OCCURRENCE` more): a rule that matches nothing stops
#: after STEPS, well under a second (benchmarks/ics_busy.py); a normal month of a
#: normal calendar takes a few hundred.
STEPS = 20_000
PER_OCCURRENCE = 8
#: Each series gets a few steps of its own too: a calendar of 2,000 weekly series that
#: ended years ago is normal, and each takes ~10 steps to find it has nothing to say.
PER_SERIES = 100


class BudgetExceeded(Exception):
    """The recurrence expansion needed more steps than its budget."""


_ACTIVE: contextvars.ContextVar[StepBudget | None] = contextvars.ContextVar(
    "coachpass_step_budget", default=None
)


class StepBudget:
    """Steps one calendar may spend, shared by every expansion made for it."""

    def __init__(self, steps: int = STEPS) -> None:
        self.steps = steps
        self.left = steps

    def grant(self, steps: int) -> None:
        """More steps, for work that produced results (occurrences)."""
        self.steps += steps
        self.left += steps

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BudgetExceeded(f"more than {self.steps} recurrence steps")

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Abort dateutil's rrule iteration inside this block (this thread) once the
        budget is spent."""
        if not COUNTING:
            with self._traced():
                yield
            return
        token = _ACTIVE.set(self)
        try:
            yield
        finally:
            _ACTIVE.reset(token)

    @contextlib.contextmanager
    def _traced(self) -> Iterator[None]:
        """The fallback: count every call into dateutil.rrule with a tracer. (CPython
        drops a tracer that raised, so each block installs it anew.)"""
        previous: Any = sys.gettrace()

        def tracer(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "call" and frame.f_code.co_filename == _RRULE_FILE:
                self.spend()
            return previous(frame, event, arg) if previous is not None else None

        sys.settrace(tracer)
        try:
            yield
        finally:
            sys.settrace(previous)


def _charge() -> None:
    budget = _ACTIVE.get()
    if budget is not None:
        budget.spend()


def _counting_iterinfo(base: type) -> type:
    """`base` (dateutil's `_iterinfo`) with every per-period helper charged."""

    slots: tuple[str, ...] = tuple(getattr(base, "__slots__", ()))

    class CountingIterInfo(base):
        __slots__ = ()

        def __init__(self, rule: Any) -> None:
            # The base sets every name of `self.__slots__` to None: here that is ours.
            for name in slots:
                setattr(self, name, None)
            setattr(self, "rrule", rule)  # noqa: B010 (a slot of the base)

        def rebuild(self, year: int, month: int) -> Any:
            _charge()
            return super().rebuild(year, month)

        def ydayset(self, year: int, month: int, day: int) -> Any:
            _charge()
            return super().ydayset(year, month, day)

        def mdayset(self, year: int, month: int, day: int) -> Any:
            _charge()
            return super().mdayset(year, month, day)

        def wdayset(self, year: int, month: int, day: int) -> Any:
            _charge()
            return super().wdayset(year, month, day)

        def ddayset(self, year: int, month: int, day: int) -> Any:
            _charge()
            return super().ddayset(year, month, day)

        def htimeset(self, hour: int, minute: int, second: int) -> Any:
            _charge()
            return super().htimeset(hour, minute, second)

        def mtimeset(self, hour: int, minute: int, second: int) -> Any:
            _charge()
            return super().mtimeset(hour, minute, second)

        def stimeset(self, hour: int, minute: int, second: int) -> Any:
            _charge()
            return super().stimeset(hour, minute, second)

    CountingIterInfo.__qualname__ = CountingIterInfo.__name__ = "_iterinfo"
    return CountingIterInfo


def _install() -> bool:
    """Put the counting `_iterinfo` into dateutil.rrule, where `rrule._iter` looks it
    up at every iteration; False when this dateutil is not built that way."""
    base = getattr(dateutil.rrule, "_iterinfo", None)
    iterate = getattr(dateutil.rrule.rrule, "_iter", None)
    names = getattr(getattr(iterate, "__code__", None), "co_names", ())
    if not isinstance(base, type) or "_iterinfo" not in names:
        return False
    if not getattr(base, "_coachpass_counting", False):
        counting = _counting_iterinfo(base)
        counting._coachpass_counting = True  # type: ignore[attr-defined]
        dateutil.rrule._iterinfo = counting
    return True


#: True when the budget counts through dateutil's `_iterinfo` (no tracer).
COUNTING = _install()
