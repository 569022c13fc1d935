"""What an admin or manager does to one session, from the CLI or the manager's page:
mark it held or no-show (with a note and follow-ups), or cancel it (the attendees
are told). Every change's history entry names where it came from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from connectors.base import Busy, ChangeAction, EventChange
from scheduler.errors import UserError
from scheduler.model import NO_REBOOK, Month, SessionRecord, SessionState
from scheduler.runtime import Runtime
from scheduler.store.lock import hold

#: The cancellation reason of a session whose manager asked for a new time (page).
NEW_TIME_REASON = "the manager asked for a new time"


def find_session(
    rt: Runtime,
    ref: str,
    month: Month | None = None,
    *,
    now: datetime | None = None,
    upcoming: bool = False,
) -> SessionRecord:
    """A session by key, unique key prefix, or seller id.

    For a seller id without `month`: the latest session that has begun (marking
    what happened), or with `upcoming` the next active one (cancelling) — not next
    month's, which is already booked from the 20th on."""
    records = rt.store.sessions(org_id=rt.org.id, month=month)
    exact = [r for r in records if r.key == ref]
    if exact:
        return exact[0]
    by_seller = [r for r in records if r.seller_id == ref]
    if by_seller:
        if month is None and now is not None:
            if upcoming:
                ahead = [r for r in by_seller if r.state.active and r.start and r.start > now]
                if ahead:
                    return min(ahead, key=lambda r: r.start or now)
            else:
                begun = [r for r in by_seller if r.start is not None and r.start <= now]
                if begun:
                    return max(begun, key=lambda r: r.start or now)
        return max(by_seller, key=lambda r: (r.month, r.attempt))
    prefixed = [r for r in records if r.key.startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if not prefixed:
        raise UserError(f"no session matches {ref!r}: give a session key or a seller id")
    raise UserError(f"{ref!r} matches {len(prefixed)} sessions: give more of the key")


def mark_session(
    rt: Runtime,
    ref: str,
    outcome: SessionState,
    *,
    now: datetime,
    note: str | None = None,
    followups: str | None = None,
    month: Month | None = None,
    source: str = "cli",
) -> SessionRecord:
    """A manager says what happened: held or no-show, with a note and follow-ups.

    `note` and `followups` (stored form, `scheduler.sessions.followups`): None keeps
    what is recorded, "" clears it. The page sends what its form holds; the CLI
    keeps what it is not given. The history entry starts with "marked" (the report
    counts it as the manager's record) and names `source` (cli, web)."""
    if outcome not in (SessionState.HELD, SessionState.NO_SHOW):
        raise UserError("a session can be marked held or no_show")
    rec = find_session(rt, ref, month, now=now)
    allowed = {
        SessionState.BOOKED,
        SessionState.RESCHEDULED,
        SessionState.HELD,
        SessionState.NO_SHOW,
    }
    if rec.state not in allowed:
        raise UserError(
            f"session {rec.key} of {rec.seller_id} is {rec.state.value}; only booked or held "
            f"sessions can be marked"
        )
    if rec.start is not None and rec.start > now:
        raise UserError(
            f"session {rec.key} of {rec.seller_id} starts {rec.start.isoformat()}: "
            f"it cannot be marked before it begins"
        )
    if not rt.store.transition(
        rec.key,
        outcome,
        now=now,
        expect={rec.state},
        detail=f"marked by manager ({source})",
        verified=True,
        note=rec.note if note is None else note,
        followups=rec.followups if followups is None else followups,
    ):
        raise UserError(f"session {rec.key} changed meanwhile; look at it and try again")
    updated = rt.store.get(rec.key)
    assert updated is not None
    return updated


def next_booked(rt: Runtime, record: SessionRecord) -> SessionRecord | None:
    """The seller's next session when it is booked already: its invitation, and the
    agenda in it, went out before anything recorded for `record` now."""
    begins = record.start
    if begins is None:
        return None
    ahead = [
        r
        for r in rt.store.sessions(org_id=rt.org.id, seller_id=record.seller_id)
        if r.key != record.key
        and r.state in (SessionState.BOOKED, SessionState.RESCHEDULED)
        and r.start is not None
        and r.start > begins
    ]
    return min(ahead, key=lambda r: r.start or begins) if ahead else None


def cancel_session(
    rt: Runtime,
    ref: str,
    *,
    now: datetime,
    reason: str = "",
    rebook: bool = True,
    month: Month | None = None,
    by: str = "admin",
) -> SessionRecord:
    """Cancel a booked session in the calendar (attendees get the cancellation) and in
    the store. The next top-up rebooks it as the policy says, unless `rebook` is off."""
    rec = find_session(rt, ref, month, now=now, upcoming=True)
    if not rec.state.active:
        raise UserError(
            f"session {rec.key} of {rec.seller_id} is {rec.state.value}: "
            f"only planned or booked sessions can be cancelled"
        )
    manager = rt.person(rec.manager_id)
    if manager is None:
        raise UserError(f"manager {rec.manager_id} of session {rec.key} is not in the config")
    # Under the month's booking lock, so booking cannot push this session meanwhile;
    # the cancellation goes out even without an event id (a crash may have left the
    # event created but unrecorded): the connector finds it by key, or reports GONE.
    with hold(rt.store.engine, f"book:{rt.org.id}:{rec.month}"):
        change = EventChange(
            rec.key, manager.calendar(), ChangeAction.CANCEL, event_id=rec.event_id, comment=reason
        )
        result = rt.connector(rec.connector or manager.connector).update([change])[0]
        if not result.ok:
            raise UserError(f"the calendar refused to cancel {rec.key}: {result.error}")
        if not rt.store.transition(
            rec.key,
            SessionState.CANCELLED,
            now=now,
            expect={rec.state},
            detail=f"cancelled by {by}: {reason}" if reason else f"cancelled by {by}",
            reason=("" if rebook else NO_REBOOK) + reason,
        ):
            raise UserError(f"session {rec.key} changed meanwhile; look at it and try again")
    updated = rt.store.get(rec.key)
    assert updated is not None
    return updated


def days_given_up(
    rt: Runtime, records: Iterable[SessionRecord], seller_ids: Collection[str]
) -> dict[str, tuple[Busy, ...]]:
    """The whole days (in the seller's zone) of sessions cancelled because their
    manager asked for a new time, as busy time of their seller: the calendar shows
    the slot free again once cancelled, and the planner would offer it (or the same
    day) right back, so the seller would get a cancellation and the same invitation."""
    days: dict[str, list[Busy]] = defaultdict(list)
    for rec in records:
        if (
            rec.seller_id in seller_ids
            and rec.state is SessionState.CANCELLED
            and rec.reason.endswith(NEW_TIME_REASON)
            and rec.start is not None
        ):
            seller = rt.person(rec.seller_id)
            zone = ZoneInfo(seller.timezone if seller else rt.org.timezone)
            day = rec.start.astimezone(zone).date()
            start = datetime.combine(day, time(), zone)
            end = datetime.combine(day + timedelta(days=1), time(), zone)
            days[rec.seller_id].append(Busy(start, end))
    return {seller_id: tuple(spans) for seller_id, spans in days.items()}
