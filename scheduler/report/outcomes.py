"""What one seller's month came to, and how each session's outcome was known.

Pure functions over the store's records and history, shared by the KPIs
(`scheduler.report.kpi`) and the per-session CSV (`scheduler.report.sessions_csv`), so
the figures and the rows a reader can add up by hand are decided in one place.

A seller's month has exactly one outcome (the report's figures are sums of these, so
they add up to the number of sellers):

    held              some session of the month was held (a rebook that was held is held:
                      an earlier decline or cancellation never counts against the manager)
    no_show           the seller's latest session was a no-show
    manager_cancelled the latest session was cancelled by the organiser's side (the
                      manager, or an admin for them) and not rebooked
    seller_declined   the latest session was declined by the seller and not rebooked
    unbookable        the planner found no slot; its reason is kept
    not_booked        nothing stands: no session at all (a seller added late), or one whose
                      slot passed before the calendar accepted it
    ahead             a session is planned, booked or moved and has not happened yet
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from scheduler.model import NO_REBOOK, SLOT_PASSED, SessionRecord, SessionState, StateChange

#: `StateChange.detail` of an outcome a manager recorded (CLI `sessions mark`, or a page).
MARKED_PREFIX = "marked"


class Outcome(StrEnum):
    HELD = "held"
    NO_SHOW = "no_show"
    MANAGER_CANCELLED = "manager_cancelled"
    SELLER_DECLINED = "seller_declined"
    UNBOOKABLE = "unbookable"
    NOT_BOOKED = "not_booked"
    AHEAD = "ahead"

    @property
    def coached(self) -> bool:
        return self is Outcome.HELD

    @property
    def decided(self) -> bool:
        """A booked session came to an outcome (the held rate's denominator)."""
        return self in (
            Outcome.HELD,
            Outcome.NO_SHOW,
            Outcome.MANAGER_CANCELLED,
            Outcome.SELLER_DECLINED,
        )


class Source(StrEnum):
    """How a session's outcome is known."""

    PROVIDER = "verified"  # attendance reported by Teams / Meet
    MANAGER = "manager"  # recorded by the manager
    PRESUMED = "presumed"  # the time passed and nothing said otherwise
    CALENDAR = "calendar"  # read from the calendar (cancelled, declined, moved, booked)
    PLANNER = "planner"  # no slot found
    COACHPASS = "coachpass"  # Coachpass's own failure to book in time


#: Best first: a held session the provider confirmed outranks one the manager marked.
SOURCE_RANK = (Source.PROVIDER, Source.MANAGER, Source.PRESUMED)


def is_manager_cancellation(record: SessionRecord) -> bool:
    """Only the organiser (the manager's calendar, or an admin for them) can cancel;
    a slot that passed before the calendar accepted it is Coachpass's, not theirs."""
    return record.state is SessionState.CANCELLED and not record.reason.startswith(SLOT_PASSED)


def outcome_source(record: SessionRecord, changes: Sequence[StateChange] = ()) -> Source:
    """Where the record's current state came from. Held and no-show: the latest change
    into that state says whether a manager marked it; `verified` without a manager's
    mark is the provider's attendance report; unverified is presumed."""
    state = record.state
    if state in (SessionState.HELD, SessionState.NO_SHOW):
        into = [c for c in changes if c.to_state is state]
        # The latest word counts; changes at the same instant keep the store's order
        # (a mark made in the same run as the presumption comes after it).
        if into and sorted(into, key=lambda c: c.at)[-1].detail.startswith(MARKED_PREFIX):
            return Source.MANAGER
        return Source.PROVIDER if record.verified else Source.PRESUMED
    if state is SessionState.UNBOOKABLE:
        return Source.PLANNER
    if state is SessionState.CANCELLED and not is_manager_cancellation(record):
        return Source.COACHPASS
    return Source.CALENDAR


#: `sessions list --json`'s `source`: who settled a held or no-show session.
_ORIGIN = {Source.PROVIDER: "provider", Source.MANAGER: "manager", Source.PRESUMED: "presumed"}


def settled_by(record: SessionRecord, changes: Sequence[StateChange] = ()) -> str | None:
    """`provider`, `manager` or `presumed` for a held or no-show session (as the
    report's `outcome_source` decides), None for any other state."""
    if record.state not in (SessionState.HELD, SessionState.NO_SHOW):
        return None
    return _ORIGIN[outcome_source(record, changes)]


@dataclass(frozen=True)
class SellerMonth:
    """One seller's month: the outcome, how it is known, and why when not coached."""

    seller_id: str
    name: str
    team_id: str
    manager_id: str
    outcome: Outcome
    source: Source | None = None  # for held and no-show
    declines: int = 0  # declined attempts this month
    detail: str = ""  # unbookable reason, or the reason given with a cancellation


def seller_month(
    seller_id: str,
    name: str,
    team_id: str,
    manager_id: str,
    records: Sequence[SessionRecord],
    history: Mapping[str, Sequence[StateChange]],
) -> SellerMonth:
    def made(outcome: Outcome, source: Source | None = None, detail: str = "") -> SellerMonth:
        declines = sum(r.state is SessionState.DECLINED for r in records)
        return SellerMonth(
            seller_id, name, team_id, manager_id, outcome, source, declines, detail.strip()
        )

    held = [r for r in records if r.state is SessionState.HELD]
    if held:
        sources = {outcome_source(r, history.get(r.key, ())) for r in held}
        return made(Outcome.HELD, next(s for s in SOURCE_RANK if s in sources))
    if any(r.state.active for r in records):
        return made(Outcome.AHEAD)
    if not records:
        return made(Outcome.NOT_BOOKED)
    latest = max(records, key=lambda r: r.attempt)
    if latest.state is SessionState.NO_SHOW:
        return made(Outcome.NO_SHOW, outcome_source(latest, history.get(latest.key, ())))
    if latest.state is SessionState.DECLINED:
        return made(Outcome.SELLER_DECLINED)
    if latest.state is SessionState.UNBOOKABLE:
        return made(Outcome.UNBOOKABLE, Source.PLANNER, latest.reason or "no reason recorded")
    if is_manager_cancellation(latest):
        return made(Outcome.MANAGER_CANCELLED, detail=latest.reason.removeprefix(NO_REBOOK))
    return made(Outcome.NOT_BOOKED, detail=latest.reason)
