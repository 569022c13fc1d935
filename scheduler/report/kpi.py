"""Coaching KPIs of one month: pure functions over the store's session records.

Definitions (the README links here; the report legend repeats the three ratios):

Scope
    A session counts for a seller when its `org_id` is the organisation, its `month` is
    the month, and its (`team_id`, `seller_id`) is a seller of that team in the current
    configuration. Sessions of people no longer configured are left out, so every figure
    is about today's organisation (the store keeps no historical roster; the trend uses
    today's roster for past months too).

Counted per seller (a rebooked seller counts once)
    active_sellers  sellers in the configuration.
    booked          sellers with a session that reached `booked`: its state is anything
                    but planned/unbookable, or its history has a change to booked.
    held            sellers with at least one held session.
    unbookable      sellers with no planned/booked/rescheduled/held session whose latest
                    attempt is unbookable; listed with the planner's reason.

Counted per session (every attempt is an event that happened)
    cancelled, declined, no_show   sessions now in that state.
    moved           sessions rescheduled at least once (`SessionRecord.moved`, or a
                    change to rescheduled in their history).
    held_sessions   sessions now held (more than `held` only when the policy books
                    several sessions per seller).

    So "declined attempt 1, held attempt 2" is one declined session and one held seller.

Ratios (None when the denominator is zero: shown as "–", never as 0 %)
    coverage        held / active_sellers.
    held_rate       held_sessions / (held_sessions + no_show + cancelled + declined):
                    of the sessions that came to an outcome, the share that took place.
                    Sessions still ahead (planned, booked, rescheduled) are not counted.
    minutes_per_manager_week
                    held minutes / (days in month / 7) / managers, where held minutes
                    are the held sessions' lengths (end - start; the policy's session
                    length when unknown) and managers are the distinct managers of the
                    teams in scope. Compared with `Policy.target_minutes_per_manager_week`.

Ratings (green/amber/red in the report)
    coverage        green >= 90 %, amber >= 70 %.
    held_rate       green >= 85 %, amber >= 70 %.
    minutes         green >= target, amber >= 75 % of target.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scheduler.model import (
    Month,
    Organisation,
    Person,
    Policy,
    SessionRecord,
    SessionState,
    StateChange,
    Team,
)

COVERAGE_GREEN, COVERAGE_AMBER = 0.90, 0.70
HELD_RATE_GREEN, HELD_RATE_AMBER = 0.85, 0.70
MINUTES_AMBER_SHARE = 0.75

_NOT_BOOKED = (SessionState.PLANNED, SessionState.UNBOOKABLE)


class Rating(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    NONE = "none"  # no data: nothing to judge


@dataclass(frozen=True)
class UnbookableSeller:
    seller_id: str
    name: str
    team_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class KpiFigures:
    """The figures every level (manager, team, organisation) has; see the module doc."""

    active_sellers: int = 0
    booked: int = 0
    held: int = 0
    held_sessions: int = 0
    cancelled: int = 0
    declined: int = 0
    moved: int = 0
    no_show: int = 0
    unbookable_sellers: tuple[UnbookableSeller, ...] = ()
    held_minutes: int = 0
    manager_count: int = 0  # distinct managers in scope
    weeks: float = 1.0  # days in the month / 7
    target_minutes_per_manager_week: int = 0

    @property
    def unbookable(self) -> int:
        return len(self.unbookable_sellers)

    @property
    def coverage(self) -> float | None:
        return self.held / self.active_sellers if self.active_sellers else None

    @property
    def held_rate(self) -> float | None:
        decided = self.held_sessions + self.no_show + self.cancelled + self.declined
        return self.held_sessions / decided if decided else None

    @property
    def minutes_per_manager_week(self) -> float | None:
        if not self.manager_count:
            return None
        return self.held_minutes / self.weeks / self.manager_count

    @property
    def coverage_rating(self) -> Rating:
        return coverage_rating(self.coverage)

    @property
    def held_rate_rating(self) -> Rating:
        return held_rate_rating(self.held_rate)

    @property
    def minutes_rating(self) -> Rating:
        return minutes_rating(self.minutes_per_manager_week, self.target_minutes_per_manager_week)


@dataclass(frozen=True, kw_only=True)
class ManagerKpi(KpiFigures):
    manager_id: str
    manager_name: str
    team_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class TeamKpi(KpiFigures):
    team_id: str
    team_name: str
    manager_id: str
    manager_name: str


@dataclass(frozen=True, kw_only=True)
class OrgKpi(KpiFigures):
    org_id: str
    org_name: str
    month: Month
    teams: tuple[TeamKpi, ...] = ()
    managers: tuple[ManagerKpi, ...] = ()


@dataclass(frozen=True)
class TrendPoint:
    month: Month
    coverage: float | None
    held_rate: float | None
    minutes_per_manager_week: float | None


def _rate(value: float | None, green: float, amber: float) -> Rating:
    if value is None:
        return Rating.NONE
    if value >= green:
        return Rating.GREEN
    if value >= amber:
        return Rating.AMBER
    return Rating.RED


def coverage_rating(value: float | None) -> Rating:
    return _rate(value, COVERAGE_GREEN, COVERAGE_AMBER)


def held_rate_rating(value: float | None) -> Rating:
    return _rate(value, HELD_RATE_GREEN, HELD_RATE_AMBER)


def minutes_rating(value: float | None, target: int) -> Rating:
    return _rate(value, target, target * MINUTES_AMBER_SHARE)


def weeks_in(month: Month) -> float:
    return month.last_day.day / 7


def _minutes(record: SessionRecord, policy: Policy) -> int:
    if record.start is not None and record.end is not None:
        return round((record.end - record.start).total_seconds() / 60)
    return policy.session_minutes


def _seller_figures(
    seller: Person,
    team: Team,
    records: Sequence[SessionRecord],
    history: dict[str, list[StateChange]],
    policy: Policy,
) -> KpiFigures:
    """One seller's contribution (active_sellers = 1); levels are sums of these."""

    def ever(record: SessionRecord, state: SessionState) -> bool:
        return any(change.to_state is state for change in history.get(record.key, ()))

    held = [r for r in records if r.state is SessionState.HELD]
    unbookable: tuple[UnbookableSeller, ...] = ()
    if records and not any(r.state.active or r.state is SessionState.HELD for r in records):
        latest = max(records, key=lambda r: r.attempt)
        if latest.state is SessionState.UNBOOKABLE:
            reason = latest.reason or "no reason recorded"
            unbookable = (UnbookableSeller(seller.id, seller.name, team.id, reason),)
    return KpiFigures(
        active_sellers=1,
        booked=int(
            any(r.state not in _NOT_BOOKED or ever(r, SessionState.BOOKED) for r in records)
        ),
        held=int(bool(held)),
        held_sessions=len(held),
        cancelled=sum(r.state is SessionState.CANCELLED for r in records),
        declined=sum(r.state is SessionState.DECLINED for r in records),
        moved=sum(r.moved or ever(r, SessionState.RESCHEDULED) for r in records),
        no_show=sum(r.state is SessionState.NO_SHOW for r in records),
        unbookable_sellers=unbookable,
        held_minutes=sum(_minutes(r, policy) for r in held),
    )


_COUNTS = (
    "active_sellers",
    "booked",
    "held",
    "held_sessions",
    "cancelled",
    "declined",
    "moved",
    "no_show",
    "held_minutes",
)


def _sum(parts: Sequence[KpiFigures]) -> dict[str, Any]:
    totals: dict[str, Any] = {name: sum(getattr(p, name) for p in parts) for name in _COUNTS}
    totals["unbookable_sellers"] = tuple(u for p in parts for u in p.unbookable_sellers)
    return totals


def compute_month(
    org: Organisation,
    month: Month,
    sessions: Iterable[SessionRecord],
    history: Iterable[StateChange] = (),
) -> OrgKpi:
    """KPIs of `month` for the organisation, its teams and its managers.

    `sessions` may hold other months and organisations (they are filtered out);
    `history` is the state changes of those sessions, in any order.
    """
    by_seller: dict[tuple[str, str], list[SessionRecord]] = defaultdict(list)
    for record in sessions:
        if record.org_id == org.id and record.month == month:
            by_seller[(record.team_id, record.seller_id)].append(record)
    changes: dict[str, list[StateChange]] = defaultdict(list)
    for change in history:
        changes[change.key].append(change)

    policy = org.policy
    common: dict[str, Any] = {
        "weeks": weeks_in(month),
        "target_minutes_per_manager_week": policy.target_minutes_per_manager_week,
    }
    teams: list[TeamKpi] = []
    for team in org.teams:
        sellers = [
            _seller_figures(s, team, by_seller.get((team.id, s.id), []), changes, policy)
            for s in team.sellers
        ]
        teams.append(
            TeamKpi(
                team_id=team.id,
                team_name=team.name,
                manager_id=team.manager.id,
                manager_name=team.manager.name,
                manager_count=1,
                **common,
                **_sum(sellers),
            )
        )

    # A manager who leads several teams is one manager with all their sellers.
    managers: list[ManagerKpi] = []
    for manager_id in dict.fromkeys(t.manager_id for t in teams):
        own = [t for t in teams if t.manager_id == manager_id]
        managers.append(
            ManagerKpi(
                manager_id=manager_id,
                manager_name=own[0].manager_name,
                team_ids=tuple(t.team_id for t in own),
                manager_count=1,
                **common,
                **_sum(own),
            )
        )

    return OrgKpi(
        org_id=org.id,
        org_name=org.name,
        month=month,
        teams=tuple(teams),
        managers=tuple(managers),
        manager_count=len(managers),
        **common,
        **_sum(teams),
    )


def trend(
    org: Organisation, months: Sequence[Month], sessions: Iterable[SessionRecord]
) -> list[TrendPoint]:
    """Organisation-level coverage, held rate and minutes for each of `months`, in order.

    Needs no history: the three ratios depend only on the sessions' current states.
    A month without any session of the organisation has no data (all three None).
    """
    records = list(sessions)
    points = []
    for month in months:
        if not any(r.org_id == org.id and r.month == month for r in records):
            # Before Coachpass was in use: "no data", not a red 0 % that never happened.
            points.append(TrendPoint(month, None, None, None))
            continue
        kpi = compute_month(org, month, records)
        points.append(TrendPoint(month, kpi.coverage, kpi.held_rate, kpi.minutes_per_manager_week))
    return points


def last_months(month: Month, count: int = 6) -> list[Month]:
    """`count` months ending with `month`, oldest first (the report's trend window)."""
    months = [month]
    while len(months) < count:
        months.append(months[-1].previous())
    return months[::-1]
