"""Follow each booked session in the organiser's calendar and settle what happened.

Reads only what changed since the stored cursor (`changes`), maps it onto session
states, then settles by time: a session whose end has passed, not cancelled and not
declined, is presumed held (verified where the provider reports attendance or a
manager marks it). Declined and cancelled sessions are rebooked by the next top-up
while the month has room (`book_month` plans a new attempt for them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.base import ConnectorError, EventState, Response
from scheduler.model import Month, SessionRecord, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import month_window
from scheduler.store.lock import hold


@dataclass(frozen=True)
class Transition:
    key: str
    seller_id: str
    month: Month
    from_state: SessionState
    to_state: SessionState
    detail: str


@dataclass(frozen=True)
class ReconcileSummary:
    transitions: tuple[Transition, ...]
    calendars_read: int
    full_reads: int
    errors: tuple[str, ...] = ()

    def months_to_rebook(self) -> set[Month]:
        return {t.month for t in self.transitions if t.to_state.fell_through}


def default_months(this: Month) -> list[Month]:
    """Last month (late sessions settle), this month and next (booked ahead)."""
    return [this.previous(), this, this.next()]


def _decide(rec: SessionRecord, ev: EventState, seller_email: str) -> tuple[SessionState, str]:
    reply = ev.responses.get(seller_email.lower())
    if ev.cancelled:
        return SessionState.CANCELLED, "cancelled in the calendar"
    if reply is Response.DECLINED:
        return SessionState.DECLINED, "declined by the seller"
    if rec.state is SessionState.DECLINED:
        # Followed only while it is the seller's latest attempt (see _followed).
        if reply in (Response.ACCEPTED, Response.TENTATIVE):
            return SessionState.BOOKED, "accepted again by the seller"
        return rec.state, ""
    if rec.start != ev.start or rec.end != ev.end:
        return SessionState.RESCHEDULED, f"moved to {ev.start.isoformat()}"
    return rec.state, ""


def _followed(records: Sequence[SessionRecord], this: Month) -> list[SessionRecord]:
    """Sessions whose calendar event can still change what we record: those in play,
    and a declined one while it is its seller's latest attempt in a month not over
    (the seller may accept again)."""
    latest: dict[tuple[str, Month], int] = {}
    for rec in records:
        slot = (rec.seller_id, rec.month)
        latest[slot] = max(latest.get(slot, 0), rec.attempt)
    return [
        rec
        for rec in records
        if rec.event_id
        and (
            rec.state.active
            or (
                rec.state is SessionState.DECLINED
                and rec.month >= this
                and rec.attempt == latest[(rec.seller_id, rec.month)]
            )
        )
    ]


def reconcile(
    rt: Runtime, now: datetime, months: Sequence[Month] | None = None
) -> ReconcileSummary:
    # One reader per organisation at a time: two would race for the same cursor.
    with hold(rt.store.engine, f"reconcile:{rt.org.id}"):
        return _reconcile(rt, now, months)


def _reconcile(rt: Runtime, now: datetime, months: Sequence[Month] | None) -> ReconcileSummary:
    months = list(months or default_months(rt.month_of(now)))
    window_start = month_window(min(months))[0]
    window_end = month_window(max(months))[1]
    label = f"{min(months)}..{max(months)}"
    records = rt.store.sessions(org_id=rt.org.id, months=months)
    by_key = {r.key: r for r in records}
    transitions: list[Transition] = []
    errors: list[str] = []

    def move(rec: SessionRecord, to: SessionState, detail: str, **fields: object) -> SessionRecord:
        if rt.store.transition(rec.key, to, now=now, detail=detail, expect={rec.state}, **fields):
            transitions.append(Transition(rec.key, rec.seller_id, rec.month, rec.state, to, detail))
            updated = rt.store.get(rec.key)
            assert updated is not None
            by_key[rec.key] = updated
            return updated
        return rec

    organisers: dict[tuple[str, str], list[SessionRecord]] = defaultdict(list)
    for rec in _followed(records, rt.month_of(now)):
        organisers[(rec.connector, rec.manager_id)].append(rec)
    full_reads = 0
    unread: set[str] = set()  # managers whose calendar could not be read this time
    for (connector_name, manager_id), recs in sorted(organisers.items()):
        manager = rt.person(manager_id)
        if manager is None:
            errors.append(f"manager {manager_id} is no longer in the config; sessions not followed")
            unread.add(manager_id)
            continue
        ref = manager.calendar()
        cursor = rt.store.cursor(connector_name, ref.calendar_id, label)
        try:
            changes = rt.connector(connector_name).changes(ref, cursor, window_start, window_end)
        except ConnectorError as exc:
            # One calendar must not stop the others; its sessions wait (and are not
            # presumed held on time alone while nobody could look at them).
            errors.append(f"calendar of {manager.name} ({ref.calendar_id}) not read: {exc}")
            unread.add(manager_id)
            continue
        full_reads += changes.full
        followed = {r.key for r in recs}
        seen = set()
        for ev in changes.events:
            found = by_key.get(ev.key)
            if found is None or found.key not in followed:
                continue
            rec = found
            seen.add(ev.key)
            seller = rt.person(rec.seller_id)
            to, detail = _decide(rec, ev, seller.email if seller else "")
            moved = rec.start != ev.start or rec.end != ev.end
            if to is not rec.state or moved:
                # Times are kept whatever else happened (moved, then declined).
                fields: dict[str, object] = {}
                if moved:
                    fields = {"start": ev.start, "end": ev.end, "moved": True}
                rec = move(rec, to, detail or f"moved to {ev.start.isoformat()}", **fields)
            if ev.attended is not None and seller and rec.state.active and ev.end <= now:
                attended = ev.attended.get(seller.email.lower())
                if attended is not None:
                    outcome = SessionState.HELD if attended else SessionState.NO_SHOW
                    move(rec, outcome, "attendance reported by the provider", verified=True)
        removed = set(changes.removed)
        for rec in recs:
            current = by_key[rec.key]
            gone = rec.key in removed or (rec.event_id in removed)
            # A full read lists every event of ours in the window: one that is
            # missing was deleted in the calendar.
            if changes.full and rec.key not in seen:
                gone = True
            if gone and current.state.active:
                move(current, SessionState.CANCELLED, "deleted from the calendar")
        rt.store.set_cursor(connector_name, ref.calendar_id, label, changes.cursor, now=now)

    for rec in list(by_key.values()):
        if (
            rec.state.active
            and rec.event_id
            and rec.end is not None
            and rec.end <= now
            and rec.manager_id not in unread
        ):
            move(rec, SessionState.HELD, "presumed held: the time passed, not cancelled")
    return ReconcileSummary(tuple(transitions), len(organisers), full_reads, tuple(errors))
