"""Follow each booked session in the organiser's calendar and settle what happened.

Reads only what changed since the stored cursor (`changes`), maps it onto session
states, then settles by time. Absence from a read proves nothing: a session missing
from a full read, or reported removed by an incremental one, is looked up by its key
(`lookup`) before anything is concluded. Found elsewhere = moved (the new time is
kept, and where it lies decides which month it counts for); really gone = cancelled;
the look-up failed = no conclusion (the session waits, and is listed in the errors).
Then, by time: a session whose end has passed, not cancelled and not
declined, is presumed held (verified where the provider reports attendance or a
manager marks it). Declined and cancelled sessions are rebooked by the next top-up
while the month has room (`book_month` plans a new attempt for them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from connectors.base import (
    CalendarConnector,
    CalendarRef,
    ChangeAction,
    ChangeSet,
    ConnectorError,
    EventChange,
    EventState,
    Lookup,
    Response,
)
from scheduler.model import Month, Person, SessionRecord, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.attendance import settle_attendance
from scheduler.sessions.booking import month_window
from scheduler.sessions.pool import answered_in_runs, in_order, workers_for
from scheduler.store.lock import hold
from scheduler.store.session_writes import Move

#: At most this many organisers' reads share one transaction (see `_reconcile`).
ORGANISERS_PER_COMMIT = 100


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


def _records(rt: Runtime, months: Sequence[Month]) -> list[SessionRecord]:
    """Sessions booked for `months`, and those booked for other months that now lie
    in them (moved there): those are followed where they are."""
    window = (month_window(min(months))[0], month_window(max(months))[1])
    booked = rt.store.sessions(org_id=rt.org.id, months=months)
    keys = {r.key for r in booked}
    moved_in = [
        r
        for r in rt.store.sessions(org_id=rt.org.id, starting=window)
        if r.key not in keys and rt.month_of(r.start or window[0]) in months
    ]
    return booked + moved_in


def _reconcile(rt: Runtime, now: datetime, months: Sequence[Month] | None) -> ReconcileSummary:
    months = list(months or default_months(rt.month_of(now)))
    window_start = month_window(min(months))[0]
    window_end = month_window(max(months))[1]
    label = f"{min(months)}..{max(months)}"
    records = _records(rt, months)
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

    def follow(rec: SessionRecord, ev: EventState) -> None:
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

    organisers: dict[tuple[str, str], list[SessionRecord]] = defaultdict(list)
    for rec in _followed(records, rt.month_of(now)):
        organisers[(rec.connector, rec.manager_id)].append(rec)
    full_reads = 0
    unread: set[str] = set()  # managers whose calendar could not be read this time
    undecided: set[str] = set()  # sessions whose look-up failed: nothing concluded
    reads: list[_Read] = []
    cursors: dict[str, dict[str, str]] = {}  # connector -> calendar -> cursor, read once
    for (connector_name, manager_id), recs in sorted(organisers.items()):
        manager = rt.person(manager_id)
        if manager is None:
            errors.append(f"manager {manager_id} is no longer in the config; sessions not followed")
            unread.add(manager_id)
            continue
        ref = manager.calendar()
        if connector_name not in cursors:
            cursors[connector_name] = rt.store.cursors(connector_name, label)
        cursor = cursors[connector_name].get(ref.calendar_id)
        reads.append(_Read(connector_name, manager, ref, cursor, tuple(recs)))
    workers = max(
        (workers_for(r.connector, rt.settings.connectors.get(r.connector)) for r in reads),
        default=1,
    )

    def apply(task: _Read, read: tuple[ChangeSet, Lookup] | ConnectorError) -> None:
        """What one calendar showed, recorded with its cursor (in the caller's
        transaction), or why it could not be read."""
        nonlocal full_reads
        manager, ref = task.manager, task.ref
        if isinstance(read, ConnectorError):
            # One calendar must not stop the others; its sessions wait (and are not
            # presumed held on time alone while nobody could look at them).
            errors.append(f"calendar of {manager.name} ({ref.calendar_id}) not read: {read}")
            unread.add(manager.id)
            return
        changes, answer = read
        full_reads += changes.full
        followed = {r.key for r in task.records}
        for ev in changes.events:
            if ev.key in followed:
                follow(by_key[ev.key], ev)
        for key, problem in answer.errors.items():
            undecided.add(key)
            rec = by_key[key]
            errors.append(
                f"session {key} ({rec.seller_id}, {rec.month}) is not in the calendar of "
                f"{manager.name} as read, and could not be looked up: {problem}; it stays "
                f"{rec.state.value} until the next run can tell"
            )
        gone = []
        for key, state in answer.found.items():
            if state is not None:
                follow(by_key[key], state)
            elif by_key[key].state.active:
                gone.append(by_key[key])
        for rec, problem in _withdraw(rt.connector(task.connector), ref, gone).items():
            if problem:
                undecided.add(rec.key)
                errors.append(
                    f"session {rec.key} ({rec.seller_id}, {rec.month}) is gone from the "
                    f"calendar of {manager.name}, but its invitations could not be "
                    f"withdrawn: {problem}; it stays {rec.state.value} until they are"
                )
            else:
                move(rec, SessionState.CANCELLED, "deleted from the calendar (looked up)")
        rt.store.set_cursor(task.connector, ref.calendar_id, label, changes.cursor, now=now)

    # The reads run on the I/O pool; what they found is applied here, on this
    # thread, organiser by organiser in the order above: the same outcome whatever
    # the pool size. Each organiser's changes are committed with its cursor; the
    # organisers whose reads are already in share one transaction (one commit for
    # a run of them, not one each), never held open while a read is awaited.
    work = partial(_read_organiser, rt, window_start, window_end)
    pairs = in_order(work, reads, workers)
    for run in answered_in_runs(pairs, ConnectorError, ORGANISERS_PER_COMMIT):
        with rt.store.batch():
            for task, found in run:
                apply(task, found)

    # Every session whose time passed in one compare-and-set pass (a day's sessions,
    # or a month's after a pause), not a transaction and a read per session.
    ended = [
        rec
        for rec in by_key.values()
        if rec.state.active
        and rec.event_id
        and rec.end is not None
        and rec.end <= now
        and rec.manager_id not in unread
        and rec.key not in undecided
    ]
    presumed = "presumed held: the time passed, not cancelled"
    held = rt.store.transition_many(
        [Move(r.key, SessionState.HELD, presumed, frozenset({r.state})) for r in ended], now=now
    )
    transitions += [
        Transition(r.key, r.seller_id, r.month, r.state, SessionState.HELD, presumed)
        for r in ended
        if r.key in held
    ]
    # What the meeting providers say turns presumed outcomes into verified ones
    # (scheduler.sessions.attendance); a manager's mark is never overridden.
    attendance = settle_attendance(rt, now)
    transitions += [
        Transition(
            s.record.key, s.record.seller_id, s.record.month, s.record.state, s.to_state, s.detail
        )
        for s in attendance.verdicts
    ]
    errors += attendance.errors
    # Calendars really read: one that failed is in `errors`, not counted as read.
    read = sum(1 for _, manager_id in organisers if manager_id not in unread)
    return ReconcileSummary(tuple(transitions), read, full_reads, tuple(errors))


@dataclass(frozen=True)
class _Read:
    """One organiser's calendar to read: which connector, from which cursor, and the
    sessions followed in it."""

    connector: str
    manager: Person
    ref: CalendarRef
    cursor: str | None
    records: tuple[SessionRecord, ...]


def _read_organiser(
    rt: Runtime, start: datetime, end: datetime, read: _Read
) -> tuple[ChangeSet, Lookup]:
    """On a worker: read what changed in the organiser's calendar, then look up by
    key the sessions the read does not show (missing from a full read, or reported
    removed): only a look-up can tell moved from deleted. Reads only; no store."""
    connector = rt.connector(read.connector)
    changes = connector.changes(read.ref, read.cursor, start, end)
    followed = {r.key for r in read.records}
    seen = {ev.key for ev in changes.events if ev.key in followed}
    removed = set(changes.removed)
    missing = [
        rec.key
        for rec in read.records
        if rec.key not in seen and (changes.full or rec.key in removed or rec.event_id in removed)
    ]
    answer = _look_up(connector.lookup, read.ref, missing) if missing else Lookup({})
    return changes, answer


def _look_up(
    lookup: Callable[[CalendarRef, Sequence[str]], Lookup], ref: CalendarRef, keys: list[str]
) -> Lookup:
    """The connector's answer, with a failure of the whole call as an error per key
    and a key it left out as an error too: silence is never "gone"."""
    try:
        answer = lookup(ref, keys)
    except ConnectorError as exc:
        return Lookup({}, {k: str(exc) for k in keys})
    left_out = [k for k in keys if k not in answer.found and k not in answer.errors]
    if not left_out:
        return answer
    errors = {**answer.errors, **{k: "the calendar gave no answer for it" for k in left_out}}
    return Lookup(answer.found, errors)


def _withdraw(
    connector: CalendarConnector, ref: CalendarRef, gone: Sequence[SessionRecord]
) -> dict[SessionRecord, str]:
    """Cancel what may be left of sessions gone from the organiser's calendar (an
    attendee's copy, an invitation not withdrawn): a rebook must not stand beside a
    live leftover. Nothing left is success; the value is the error, "" when done."""
    if not gone:
        return {}
    changes = [
        EventChange(
            rec.key,
            ref,
            ChangeAction.CANCEL,
            event_id=rec.event_id,
            comment="this coaching session was removed from the organiser's calendar",
        )
        for rec in gone
    ]
    try:
        results = connector.update(changes)
    except ConnectorError as exc:
        return {rec: str(exc) or type(exc).__name__ for rec in gone}
    return {
        rec: "" if result.ok else (result.error or "failed")
        for rec, result in zip(gone, results, strict=True)
    }
