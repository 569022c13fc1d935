"""Coaching KPIs of one month: pure functions over the store's session records.

Definitions (the README links here; the report legend repeats them with the thresholds):

Scope
    A session counts for a seller when its `org_id` is the organisation, its `month` is
    the month, and its (`team_id`, `seller_id`) is a seller of that team in the current
    configuration. Sessions of people no longer configured (a seller who left mid-month)
    are left out, so every figure is about today's organisation.

Sellers: each has exactly one outcome for the month (`scheduler.report.outcomes`), so
    active_sellers = held + no_show_sellers + cancelled_sellers + declined_sellers
                     + unbookable + not_booked + ahead
    held            sellers coached: some session of theirs was held, split by how the
                    best-known one was known: held_verified (the meeting provider's
                    attendance) + held_recorded (marked by the manager) + held_presumed
                    (its time passed, nothing said otherwise).
    not coached     no_show_sellers, cancelled_sellers (by the manager, not rebooked),
                    declined_sellers (by the seller, not rebooked), unbookable (with the
                    planner's reason), not_booked; each is listed by name with why.
    booked          sellers with a session that reached `booked`.

Sessions (every attempt is an event that happened along the way)
    cancelled       sessions cancelled by the manager's side (not a slot that passed
                    before the calendar accepted it: that is Coachpass's failure).
    declined        sessions declined by the seller.
    rebooked        new attempts after a decline or cancellation; rebooked_held of them
                    held. A rebook that was held makes its seller `held`.
    moved, no_show, held_sessions   sessions moved at least once / now no-show / held.

Ratios (None when the denominator is zero: shown as "–", never as 0 %)
    coverage        held / active_sellers.
    held_rate       held / (held + no_show_sellers + cancelled_sellers + declined_sellers):
                    of the sellers whose booked session came to an outcome, the share
                    coached. Per seller, so a declined-then-held rebook counts as held.
    minutes_per_manager_week
                    held minutes / (days in month / 7) / managers (held sessions'
                    lengths; the policy's session length when unknown), against
                    `Policy.target_minutes_per_manager_week`.

Ratings (status word, symbol and colour in the report): `ReportThresholds` from the
config; defaults coverage green >= 90 %, amber >= 70 %; held rate green >= 85 %,
amber >= 70 %; minutes green >= target, amber >= 75 % of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scheduler.model import (
    Month,
    Organisation,
    Policy,
    ReportThresholds,
    SessionRecord,
    SessionState,
    StateChange,
)
from scheduler.report.outcomes import (
    Outcome,
    SellerMonth,
    Source,
    is_manager_cancellation,
    seller_month,
)

DEFAULT_THRESHOLDS = ReportThresholds()

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
    held_verified: int = 0
    held_recorded: int = 0
    held_presumed: int = 0
    no_show_sellers: int = 0
    cancelled_sellers: int = 0
    declined_sellers: int = 0
    not_booked: int = 0
    ahead: int = 0
    held_sessions: int = 0
    cancelled: int = 0
    declined: int = 0
    rebooked: int = 0
    rebooked_held: int = 0
    moved: int = 0
    no_show: int = 0
    not_coached_sellers: tuple[SellerMonth, ...] = ()
    unbookable_sellers: tuple[UnbookableSeller, ...] = ()
    held_minutes: int = 0
    manager_count: int = 0  # distinct managers in scope
    weeks: float = 1.0  # days in the month / 7
    target_minutes_per_manager_week: int = 0
    thresholds: ReportThresholds = DEFAULT_THRESHOLDS

    @property
    def unbookable(self) -> int:
        return len(self.unbookable_sellers)

    @property
    def not_coached(self) -> int:
        """Sellers whose month is over for Coachpass without a held session."""
        return len(self.not_coached_sellers)

    @property
    def coverage(self) -> float | None:
        return self.held / self.active_sellers if self.active_sellers else None

    @property
    def held_rate(self) -> float | None:
        decided = self.held + self.no_show_sellers + self.cancelled_sellers + self.declined_sellers
        return self.held / decided if decided else None

    @property
    def minutes_per_manager_week(self) -> float | None:
        if not self.manager_count:
            return None
        return self.held_minutes / self.weeks / self.manager_count

    @property
    def coverage_rating(self) -> Rating:
        return coverage_rating(self.coverage, self.thresholds)

    @property
    def held_rate_rating(self) -> Rating:
        return held_rate_rating(self.held_rate, self.thresholds)

    @property
    def minutes_rating(self) -> Rating:
        return minutes_rating(
            self.minutes_per_manager_week, self.target_minutes_per_manager_week, self.thresholds
        )


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


def coverage_rating(value: float | None, t: ReportThresholds = DEFAULT_THRESHOLDS) -> Rating:
    return _rate(value, t.coverage_green, t.coverage_amber)


def held_rate_rating(value: float | None, t: ReportThresholds = DEFAULT_THRESHOLDS) -> Rating:
    return _rate(value, t.held_rate_green, t.held_rate_amber)


def minutes_rating(
    value: float | None, target: int, t: ReportThresholds = DEFAULT_THRESHOLDS
) -> Rating:
    return _rate(value, target, target * t.minutes_amber_share)


def weeks_in(month: Month) -> float:
    return month.last_day.day / 7


def _minutes(record: SessionRecord, policy: Policy) -> int:
    if record.start is not None and record.end is not None:
        return round((record.end - record.start).total_seconds() / 60)
    return policy.session_minutes


def _seller_figures(
    month: SellerMonth,
    records: Sequence[SessionRecord],
    history: Mapping[str, list[StateChange]],
    policy: Policy,
) -> KpiFigures:
    """One seller's contribution (active_sellers = 1); levels are sums of these."""

    def ever(record: SessionRecord, state: SessionState) -> bool:
        return any(change.to_state is state for change in history.get(record.key, ()))

    held = [r for r in records if r.state is SessionState.HELD]
    outcome = month.outcome
    unbookable: tuple[UnbookableSeller, ...] = ()
    if outcome is Outcome.UNBOOKABLE:
        unbookable = (UnbookableSeller(month.seller_id, month.name, month.team_id, month.detail),)
    rebooks = [r for r in records if r.attempt > 1 and r.state is not SessionState.UNBOOKABLE]
    return KpiFigures(
        active_sellers=1,
        booked=int(
            any(r.state not in _NOT_BOOKED or ever(r, SessionState.BOOKED) for r in records)
        ),
        held=int(outcome is Outcome.HELD),
        held_verified=int(outcome is Outcome.HELD and month.source is Source.PROVIDER),
        held_recorded=int(outcome is Outcome.HELD and month.source is Source.MANAGER),
        held_presumed=int(outcome is Outcome.HELD and month.source is Source.PRESUMED),
        no_show_sellers=int(outcome is Outcome.NO_SHOW),
        cancelled_sellers=int(outcome is Outcome.MANAGER_CANCELLED),
        declined_sellers=int(outcome is Outcome.SELLER_DECLINED),
        not_booked=int(outcome is Outcome.NOT_BOOKED),
        ahead=int(outcome is Outcome.AHEAD),
        held_sessions=len(held),
        cancelled=sum(is_manager_cancellation(r) for r in records),
        declined=sum(r.state is SessionState.DECLINED for r in records),
        rebooked=len(rebooks),
        rebooked_held=sum(r.state is SessionState.HELD for r in rebooks),
        moved=sum(r.moved or ever(r, SessionState.RESCHEDULED) for r in records),
        no_show=sum(r.state is SessionState.NO_SHOW for r in records),
        not_coached_sellers=() if outcome in (Outcome.HELD, Outcome.AHEAD) else (month,),
        unbookable_sellers=unbookable,
        held_minutes=sum(_minutes(r, policy) for r in held),
    )


#: The additive counts: a level's figure is the sum of its sellers'.
COUNTS = (
    "active_sellers",
    "booked",
    "held",
    "held_verified",
    "held_recorded",
    "held_presumed",
    "no_show_sellers",
    "cancelled_sellers",
    "declined_sellers",
    "not_booked",
    "ahead",
    "held_sessions",
    "cancelled",
    "declined",
    "rebooked",
    "rebooked_held",
    "moved",
    "no_show",
    "held_minutes",
)


def _sum(parts: Sequence[KpiFigures]) -> dict[str, Any]:
    totals: dict[str, Any] = {name: sum(getattr(p, name) for p in parts) for name in COUNTS}
    totals["unbookable_sellers"] = tuple(u for p in parts for u in p.unbookable_sellers)
    totals["not_coached_sellers"] = tuple(u for p in parts for u in p.not_coached_sellers)
    return totals


def seller_months(
    org: Organisation,
    month: Month,
    sessions: Iterable[SessionRecord],
    history: Iterable[StateChange] = (),
) -> list[tuple[SellerMonth, list[SessionRecord]]]:
    """Each configured seller's month with their sessions of it, in config order."""
    by_seller: dict[tuple[str, str], list[SessionRecord]] = defaultdict(list)
    for record in sessions:
        if record.org_id == org.id and record.month == month:
            by_seller[(record.team_id, record.seller_id)].append(record)
    changes = _by_key(history)
    out = []
    for team in org.teams:
        for s in team.sellers:
            records = sorted(by_seller.get((team.id, s.id), []), key=lambda r: r.attempt)
            out.append(
                (seller_month(s.id, s.name, team.id, team.manager.id, records, changes), records)
            )
    return out


def _by_key(history: Iterable[StateChange]) -> dict[str, list[StateChange]]:
    changes: dict[str, list[StateChange]] = defaultdict(list)
    for change in history:
        changes[change.key].append(change)
    return changes


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
    history = list(history)
    changes = _by_key(history)
    policy = org.policy
    common: dict[str, Any] = {
        "weeks": weeks_in(month),
        "target_minutes_per_manager_week": policy.target_minutes_per_manager_week,
        "thresholds": org.thresholds,
    }
    per_team: dict[str, list[KpiFigures]] = defaultdict(list)
    for sm, records in seller_months(org, month, sessions, history):
        per_team[sm.team_id].append(_seller_figures(sm, records, changes, policy))
    teams = [
        TeamKpi(
            team_id=team.id,
            team_name=team.name,
            manager_id=team.manager.id,
            manager_name=team.manager.name,
            manager_count=1,
            **common,
            **_sum(per_team.get(team.id, [])),
        )
        for team in org.teams
    ]

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
