"""Recurrence rules bounded by the window asked for.

dateutil (under `recurring_ical_events`) walks a rule from its DTSTART, so a series
started years ago costs its whole history: `DTSTART:20200101T000000Z` with
`FREQ=SECONDLY` is ~350 million steps before March 2031. Two things keep the cost
proportional to the occurrences inside the window instead:

- `skip_ahead` moves DTSTART (and DTEND) forward by whole periods to just before the
  window. Whole periods of the rule's own FREQ x INTERVAL keep every later occurrence
  where it was, whatever the BY... parts say, and wall-clock arithmetic keeps DST as
  dateutil computes it; RECURRENCE-ID overrides and EXDATEs name the original times,
  which do not change. A COUNT counts from the first occurrence, so with a COUNT the
  move is exact only when every period holds exactly one occurrence (no BY... parts);
  otherwise the series is left alone and the step budget (`ics.budget`) decides.
- `occurrences_in` counts a series' occurrences in the window (stopping above the
  limit) before anything is expanded, so the per-calendar occurrence limit is an
  error message, not a list of millions of occurrences.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from math import lcm
from typing import Any

import icalendar
from dateutil.rrule import rrulestr
from recurring_ical_events.constants import NEGATIVE_RRULE_COUNT_REGEX

_PERIOD_SECONDS = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86400,
    "WEEKLY": 7 * 86400,
}
_BY_PARTS = (
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
)
#: Periods dateutil may walk for one rule with a fixed period (SECONDLY to WEEKLY).
#: A period can cost a loop of up to 86,400 steps inside dateutil without a single
#: Python call (SECONDLY with BYHOUR/BYMINUTE filters), which the step budget does
#: not see, so the walk is measured before it starts. A month of a MINUTELY rule is
#: ~50k periods; SECONDLY (2.7M) is refused.
MAX_WALK = 500_000
_UNTIL = re.compile(r"UNTIL=(\d{8})(T\d{6})?Z?", re.I)


def rules_of(component: icalendar.Component) -> list[Any]:
    """The RRULE values (icalendar `vRecur`) of a component."""
    value = component.get("RRULE")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def rule_text(rule: Any) -> str:
    return rule.to_ical().decode("utf-8", errors="replace")


def wall_clock(value: date | datetime) -> datetime:
    """A DATE or DATE-TIME as the naive wall-clock time dateutil iterates in."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)


def skip_ahead(component: icalendar.Component, earliest: datetime) -> None:
    """Move a series' first occurrence forward by whole periods to at most `earliest`
    (naive wall clock), when that leaves every occurrence from `earliest` on as it was."""
    rules = rules_of(component)
    start_prop = component.get("DTSTART")
    if len(rules) != 1 or start_prop is None:
        return
    rule = rules[0]
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    if freq not in _PERIOD_SECONDS:
        return  # MONTHLY/YEARLY: at most ~24k periods since year 1, within the budget
    try:
        interval = int((rule.get("INTERVAL") or [1])[0])
        count = int(rule["COUNT"][0]) if rule.get("COUNT") else None
    except (TypeError, ValueError):
        return  # reported by the validity check
    if interval < 1:
        return
    start = start_prop.dt
    period = interval * _PERIOD_SECONDS[freq]
    # An all-day series can only move by whole days.
    step_seconds = lcm(period, 86400) if not isinstance(start, datetime) else period
    step = timedelta(seconds=step_seconds)
    steps = (earliest - wall_clock(start)) // step
    if steps <= 0:
        return
    if count is not None:
        if any(rule.get(part) for part in _BY_PARTS):
            return
        left = count - steps * (step_seconds // period)
        if left <= 0:
            # The rule ends before the window: only DTSTART, RDATEs and overrides
            # remain, and those lie where they are.
            del component["RRULE"]
            return
        rule = icalendar.vRecur(rule)
        rule["COUNT"] = [left]
        component["RRULE"] = rule
    shift = step * steps
    for name in ("DTSTART", "DTEND"):
        prop = component.get(name)
        if prop is not None:
            moved = icalendar.vDDDTypes(prop.dt + shift)
            moved.params = prop.params
            component[name] = moved


def walk_length(component: icalendar.Component, hi: datetime) -> tuple[int, str]:
    """The most periods one of the component's rules walks from DTSTART to `hi` (naive
    wall clock), and that rule's text; 0 for MONTHLY/YEARLY (bounded by the year 1)."""
    start_prop: Any = component["DTSTART"]
    start = wall_clock(start_prop.dt)
    longest, text = 0, ""
    for rule in rules_of(component):
        freq = str((rule.get("FREQ") or [""])[0]).upper()
        try:
            interval = max(1, int((rule.get("INTERVAL") or [1])[0]))
        except (TypeError, ValueError):
            continue  # reported by the validity check
        if freq in _PERIOD_SECONDS:
            periods = int((hi - start).total_seconds()) // (interval * _PERIOD_SECONDS[freq])
            if periods > longest:
                longest, text = periods, rule_text(rule)
    return longest, text


def occurrences_in(
    component: icalendar.Component,
    lo: datetime,
    hi: datetime,
    cap: int,
    on_occurrence: Callable[[], None] = lambda: None,
) -> tuple[int, str]:
    """How many occurrences the component's rules and RDATEs put in [lo, hi] (naive
    wall clock), counting at most `cap + 1`; and the rule text, for messages.
    Raises ValueError for a rule dateutil cannot read."""
    start_prop: Any = component["DTSTART"]
    start = wall_clock(start_prop.dt)
    total = 0
    texts = []
    for rule in rules_of(component):
        text = rule_text(rule)
        texts.append(text)
        counting = NEGATIVE_RRULE_COUNT_REGEX.sub("", text)
        # Counting in naive wall-clock time: a DATE or UTC UNTIL read as naive can be
        # off by the zone's offset, well inside the window's two-day margins.
        counting = _UNTIL.sub(lambda m: f"UNTIL={m.group(1)}{m.group(2) or 'T235959'}", counting)
        recurrence = rrulestr(counting, dtstart=start, cache=False)
        for when in recurrence.xafter(lo, inc=True):
            if when > hi or total > cap:
                break
            total += 1
            on_occurrence()
    for rdates in _as_list(component.get("RDATE")):
        total += len(getattr(rdates, "dts", ()))
    return (total if texts or component.get("RDATE") else 1), "; ".join(texts)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
