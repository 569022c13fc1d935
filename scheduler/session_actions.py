"""What an admin or manager does to one session from the CLI: mark it held or
no-show (with a note and follow-ups), or cancel it (the attendees are told)."""

from __future__ import annotations

from datetime import datetime

from connectors.base import ChangeAction, EventChange
from scheduler.errors import UserError
from scheduler.model import NO_REBOOK, Month, SessionRecord, SessionState
from scheduler.runtime import Runtime


def find_session(rt: Runtime, ref: str, month: Month | None = None) -> SessionRecord:
    """A session by key, unique key prefix, or seller id (latest attempt in `month`)."""
    records = rt.store.sessions(org_id=rt.org.id, month=month)
    exact = [r for r in records if r.key == ref]
    if exact:
        return exact[0]
    by_seller = [r for r in records if r.seller_id == ref]
    if by_seller:
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
    note: str = "",
    followups: str = "",
    month: Month | None = None,
) -> SessionRecord:
    """A manager says what happened: held or no-show, with a note and follow-ups."""
    if outcome not in (SessionState.HELD, SessionState.NO_SHOW):
        raise UserError("a session can be marked held or no_show")
    rec = find_session(rt, ref, month)
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
    rt.store.transition(
        rec.key,
        outcome,
        now=now,
        detail="marked by manager",
        verified=True,
        note=note or rec.note,
        followups=followups or rec.followups,
    )
    updated = rt.store.get(rec.key)
    assert updated is not None
    return updated


def cancel_session(
    rt: Runtime,
    ref: str,
    *,
    now: datetime,
    reason: str = "",
    rebook: bool = True,
    month: Month | None = None,
) -> SessionRecord:
    """Cancel a booked session in the calendar (attendees get the cancellation) and in
    the store. The next top-up rebooks it as the policy says, unless `rebook` is off."""
    rec = find_session(rt, ref, month)
    if not rec.state.active:
        raise UserError(
            f"session {rec.key} of {rec.seller_id} is {rec.state.value}: "
            f"only planned or booked sessions can be cancelled"
        )
    manager = rt.person(rec.manager_id)
    if rec.event_id and manager is not None:
        change = EventChange(
            rec.key, manager.calendar(), ChangeAction.CANCEL, event_id=rec.event_id, comment=reason
        )
        result = rt.connector(rec.connector or manager.connector).update([change])[0]
        if not result.ok:
            raise UserError(f"the calendar refused to cancel {rec.key}: {result.error}")
    rt.store.transition(
        rec.key,
        SessionState.CANCELLED,
        now=now,
        detail=f"cancelled by admin: {reason}" if reason else "cancelled by admin",
        reason=("" if rebook else NO_REBOOK) + reason,
    )
    updated = rt.store.get(rec.key)
    assert updated is not None
    return updated
