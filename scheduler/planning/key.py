"""The planning key: a digest of everything a team's plan depends on.

Two problems with the same key get the same plan, so `book` may take the plan a
`plan` of the same inputs stored (`scheduler.store.plans`) instead of solving again.
The key covers every field of the `TeamProblem` (team and people, policy, month,
busy time, sellers to book, standing sessions, calendar errors, previous
sessions) except `now`, which the planner reads only as `earliest_start` (`now`
plus the lead time, up onto the slot grid, clipped to the allowed days): a `plan`
and a `book` a few minutes apart agree on it, and a plan of next month agrees all
day. It also covers the planner's code (a digest of `scheduler/planning/*.py`,
plus `PLANNER_VERSION`), the versions of the libraries that decide a plan
(OR-Tools picks among equal optima; `holidays` knows the days off) and the rules
of the team's time zones as this process reads them, so a new release or a time
zone database update never reuses a plan made under the old ones.

Only proven-optimal plans are stored: a plan cut short by the time limit depends on
the wall clock, not only on the inputs.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from dataclasses import fields, is_dataclass
from enum import Enum
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from connectors.base import Busy
from scheduler.planning.availability import earliest_start
from scheduler.planning.problem import TeamProblem

#: Bump when a plan's meaning changes without a change under scheduler/planning
#: (the stored JSON, say): stored plans then stop matching.
PLANNER_VERSION = 1


def _canonical(value: Any) -> Any:
    if isinstance(value, Busy):
        # Busy lists are the bulk of a problem: a flat tuple, not the generic walk
        # (the instants, exact to the microsecond as floats this side of 2100).
        return (value.start.timestamp(), value.end.timestamp(), value.kind.value)
    if is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            [(f.name, _canonical(getattr(value, f.name))) for f in fields(value)],
        )
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict) or hasattr(value, "items"):
        return sorted((str(k), _canonical(v)) for k, v in value.items())
    if isinstance(value, frozenset | set):
        return sorted(repr(_canonical(v)) for v in value)
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@lru_cache(maxsize=1)
def code_version() -> str:
    """The planner's code and the libraries that decide a plan, as one digest."""
    digest = hashlib.sha256(f"planner {PLANNER_VERSION}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for package in ("ortools", "holidays"):
        digest.update(f"{package} {_version(package)}".encode())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


@lru_cache(maxsize=512)
def zone_rules(name: str) -> str:
    """A digest of the rules `ZoneInfo(name)` reads: the system's zone file where
    there is one (zoneinfo looks there first), else the tzdata package's. Cached
    per process, as ZoneInfo caches the rules it read."""
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / name
        if path.is_file():
            return hashlib.sha256(path.read_bytes()).hexdigest()
    return f"tzdata {_version('tzdata')}"


def planning_key(problem: TeamProblem) -> str:
    """Equal keys, equal plans: see the module's docstring for what it covers."""
    inputs = [
        (f.name, _canonical(getattr(problem, f.name))) for f in fields(problem) if f.name != "now"
    ]
    team = problem.team
    zones = sorted({p.timezone for p in (team.manager, *team.sellers)})
    rules = [(z, zone_rules(z)) for z in zones]
    text = repr((code_version(), rules, earliest_start(problem), inputs))
    return hashlib.sha256(text.encode()).hexdigest()
