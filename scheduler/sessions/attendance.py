"""Verified outcomes: the meeting provider's attendance turned into held or no-show.

`judge` is the rule, pure: manager and seller in the meeting together for at least
the policy's minutes (each person's intervals merged first, so a rejoin adds up and
overlapping intervals of one person count once) is *verified held*; a meeting that
took place without one of them, or did not take place at all, is *verified no-show*;
anything else (too short together, pending, expired, no meeting, unsupported) is no
verdict and the session stays as it was (presumed).

`settle_attendance` is the step reconcile runs after it has read the calendars. It
asks each connector in one call (the connector batches and paces its provider's
requests; when the whole call fails, once per organiser, so one organiser's failure
never stops the others) about sessions that ended between the
provider's delay and the asking window ago, that are presumed held or still booked
after their end, and that are not settled yet. A final answer settles the session (it
is never asked again, so a quiet reconcile asks nothing); a pending answer, an error
or "unsupported" (a back end without attendance, as configured today) is asked again
on the next run while the session is inside the asking window; an unchanged
"unsupported" is not written again. Nothing here ever overrides a verified outcome: a
manager's mark or a verdict already stored (`store.attendance.record_attendance` checks both in
the same transaction that applies a verdict).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors.base import (
    Attendance,
    AttendanceAnswer,
    AttendanceStatus,
    Attendee,
    ConnectorError,
    MeetingQuery,
    Presence,
)
from scheduler.errors import UserError
from scheduler.model import AttendancePolicy, SessionRecord, SessionState
from scheduler.report.outcomes import MARKED_PREFIX
from scheduler.runtime import Runtime
from scheduler.store.attendance import AttendanceNote, attendance_due, record_attendance

#: History detail of a verdict from the provider: `attendance: <why>`.
ATTENDANCE_PREFIX = "attendance: "

#: Answers after which asking again can teach nothing. UNSUPPORTED is not one: it
#: describes the back end as configured today, costs no I/O to give, and an admin who
#: turns on meeting reports (`attendance_dir`) later expects the sessions still inside
#: `keep_asking_days` to be verified.
_FINAL = frozenset(
    {
        AttendanceStatus.MET,
        AttendanceStatus.NOT_HELD,
        AttendanceStatus.EXPIRED,
        AttendanceStatus.NO_MEETING,
    }
)

Span = tuple[datetime, datetime]


# ---------------------------------------------------------------------------
# Interval arithmetic
# ---------------------------------------------------------------------------


def union(intervals: Iterable[Span]) -> list[Span]:
    """One person's time in the meeting as disjoint, sorted spans: overlapping or
    touching intervals (two devices, a reconnect) merge; empty ones are dropped."""
    merged: list[Span] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def overlap(a: Iterable[Span], b: Iterable[Span]) -> timedelta:
    """How long two people were in the meeting at the same time."""
    left, right = union(a), union(b)
    total = timedelta()
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if end > start:
            total += end - start
        # The span that ends first cannot overlap anything later on the other side.
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return total


# ---------------------------------------------------------------------------
# The rule
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What an attendance answer means for one session: an outcome (or None: stays
    as it is), whether the answer is final (never ask again), and why, in words."""

    outcome: SessionState | None
    final: bool
    detail: str


def _presence_of(presence: Mapping[str, Presence], email: str) -> Presence:
    wanted = email.strip().lower()
    for who, spans in presence.items():
        if who.strip().lower() == wanted:
            return spans
    return ()


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.0f} min"


def judge(
    attendance: Attendance, manager_email: str, seller_email: str, min_minutes: int
) -> Verdict:
    """The rule (see the module docstring). Pure: no I/O, no clock."""
    status = attendance.status
    said = f" ({attendance.detail})" if attendance.detail else ""
    if status is AttendanceStatus.NOT_HELD:
        return Verdict(SessionState.NO_SHOW, True, f"the meeting did not take place{said}")
    if status is not AttendanceStatus.MET:
        return Verdict(None, status in _FINAL, f"{status.value}{said}")
    manager = union(_presence_of(attendance.presence, manager_email))
    seller = union(_presence_of(attendance.presence, seller_email))
    missing = [
        f"the {role} ({email})"
        for role, email, spans in (
            ("manager", manager_email, manager),
            ("seller", seller_email, seller),
        )
        if not spans
    ]
    if missing:
        return Verdict(
            SessionState.NO_SHOW,
            True,
            f"the meeting took place without {' and '.join(missing)}{said}",
        )
    together = overlap(manager, seller)
    if together >= timedelta(minutes=min_minutes):
        return Verdict(
            SessionState.HELD,
            True,
            f"manager and seller in the meeting together for {_minutes(together)}{said}",
        )
    return Verdict(
        None,
        True,
        f"manager and seller together for only {_minutes(together)} "
        f"(under {min_minutes} min): stays presumed{said}",
    )


# ---------------------------------------------------------------------------
# The step reconcile runs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settled:
    """A verdict applied to a session (`record` as it was before)."""

    record: SessionRecord
    to_state: SessionState
    detail: str


@dataclass(frozen=True)
class AttendanceRun:
    verdicts: tuple[Settled, ...] = ()
    errors: tuple[str, ...] = ()
    asked: int = 0  # sessions asked about (0 on a quiet run: nothing is due)
    calls: int = 0  # connector calls made (one per connector; more only after a failure)


def due_window(policy: AttendancePolicy, now: datetime) -> tuple[datetime, datetime]:
    """Sessions that ended in [from, to] may be asked about now."""
    return (
        now - timedelta(days=policy.keep_asking_days),
        now - timedelta(minutes=policy.provider_delay_minutes),
    )


def settle_attendance(rt: Runtime, now: datetime) -> AttendanceRun:
    """Ask the meeting providers about sessions that are due (see the module
    docstring) and apply what they say. Call inside the reconcile lock."""
    policy = rt.org.policy.attendance
    due = attendance_due(rt.store, rt.org.id, ended=due_window(policy, now))
    if not due:
        return AttendanceRun()
    by_connector: dict[str, list[tuple[SessionRecord, MeetingQuery]]] = defaultdict(list)
    for rec in due:
        query = _query(rt, rec)
        if query is not None:
            by_connector[rec.connector].append((rec, query))
    verdicts: list[Settled] = []
    errors: list[str] = []
    asked = calls = 0
    for connector_name, items in sorted(by_connector.items()):
        asked += len(items)
        answer, failures, failed, made = _answers(rt, connector_name, [q for _, q in items])
        calls += made
        errors += failures
        notes: list[AttendanceNote] = []
        judged: dict[str, Settled] = {}
        # One line per reason: a grant missing for a whole domain is one fix, not a
        # line per session.
        unread: dict[str, list[SessionRecord]] = defaultdict(list)
        for rec, query in items:
            result = answer.results.get(rec.key)
            if result is None:
                reason = answer.errors.get(rec.key) or "the connector gave no answer"
                if rec.key not in failed:  # else listed once for its organiser
                    unread[reason].append(rec)
                notes.append(AttendanceNote(rec.key, None, f"not read: {reason}", False))
                continue
            note = _note(rec, query, result, policy.min_minutes_together)
            if note.status == rec.attendance_status == AttendanceStatus.UNSUPPORTED.value:
                continue  # said before: no store write per session and reconcile
            notes.append(note)
            if note.verdict is not None:
                judged[rec.key] = Settled(rec, note.verdict, note.history_detail)
        errors += [_unread_line(reason, recs) for reason, recs in unread.items()]
        # One transaction per connector's answers; the store re-checks every verdict.
        applied = record_attendance(rt.store, notes, now=now, protected_prefix=MARKED_PREFIX)
        verdicts += [judged[key] for key in judged if key in applied]
    return AttendanceRun(tuple(verdicts), tuple(errors), asked, calls)


def _unread_line(reason: str, recs: Sequence[SessionRecord]) -> str:
    if len(recs) == 1:
        rec = recs[0]
        return (
            f"attendance of session {rec.key} ({rec.seller_id}, {rec.month}) "
            f"not read: {reason}; it stays {rec.state.value} until it can be read"
        )
    sellers = sorted({r.seller_id for r in recs})
    shown = ", ".join(sellers[:5]) + (f" and {len(sellers) - 5} more" if len(sellers) > 5 else "")
    return (
        f"attendance of {len(recs)} sessions ({shown}) not read: {reason}; they stay as "
        "they are until it can be read"
    )


def _answers(
    rt: Runtime, connector_name: str, queries: Sequence[MeetingQuery]
) -> tuple[AttendanceAnswer, list[str], set[str], int]:
    """One call with every question for the connector (it batches and paces its
    provider's requests across organisers); when that whole call fails, one call per
    organiser, so one organiser's failure (a permission missing for one mailbox)
    never stops the others. Returns the answers, a message per failed organiser,
    their keys (in the answer's errors too) and the number of calls made."""
    answer, failure = _ask(rt, connector_name, queries)
    if not failure:
        return answer, [], set(), 1
    by_organiser: dict[str, list[MeetingQuery]] = defaultdict(list)
    for query in queries:
        by_organiser[query.organizer.person_id].append(query)
    if len(by_organiser) == 1:
        parts = [(next(iter(by_organiser)), list(queries), failure)]
        calls = 1
    else:
        parts = []
        for organiser, own in sorted(by_organiser.items()):
            part, problem = _ask(rt, connector_name, own)
            parts.append((organiser, own, problem))
            if not problem:
                answer = _merged(answer, part)
        calls = 1 + len(by_organiser)
    messages = []
    failed: dict[str, str] = {}
    for organiser, own, problem in parts:
        if not problem:
            continue
        manager = rt.person(organiser)
        who = manager.name if manager else organiser
        messages.append(
            f"attendance of {len(own)} session(s) of {who} ({connector_name}) not read: "
            f"{problem}; they stay as they are until it can be read"
        )
        failed.update({q.key: problem for q in own})
    return _merged(answer, AttendanceAnswer({}, failed)), messages, set(failed), calls


def _merged(a: AttendanceAnswer, b: AttendanceAnswer) -> AttendanceAnswer:
    results = {**a.results, **b.results}
    errors = {k: v for k, v in {**a.errors, **b.errors}.items() if k not in results}
    return AttendanceAnswer(results, errors)


def _query(rt: Runtime, rec: SessionRecord) -> MeetingQuery | None:
    manager, seller = rt.person(rec.manager_id), rt.person(rec.seller_id)
    if manager is None or seller is None or rec.start is None or rec.end is None:
        return None  # left the organisation: reconcile says so; nothing to judge by
    return MeetingQuery(
        key=rec.key,
        organizer=manager.calendar(),
        people=(Attendee(manager.email, manager.name), Attendee(seller.email, seller.name)),
        start=rec.start,
        end=rec.end,
        event_id=rec.event_id,
        video_url=rec.video_url,
    )


def _ask(
    rt: Runtime, connector_name: str, queries: Sequence[MeetingQuery]
) -> tuple[AttendanceAnswer, str]:
    """The connector's answer, or the reason the whole call failed."""
    try:
        return rt.connector(connector_name).attendance(queries), ""
    except (ConnectorError, UserError) as exc:
        return AttendanceAnswer({}), str(exc) or type(exc).__name__


def _note(
    rec: SessionRecord, query: MeetingQuery, result: Attendance, min_minutes: int
) -> AttendanceNote:
    manager_email, seller_email = query.people[0].email, query.people[1].email
    verdict = judge(result, manager_email, seller_email, min_minutes)
    outcome, final = verdict.outcome, verdict.final
    if result.status is AttendanceStatus.NOT_HELD and rec.state is not SessionState.HELD:
        # Still booked after its end means reconcile could not read the calendar this
        # time: "no meeting took place" may be a cancellation nobody has seen yet.
        # Ask again once the calendar has been read and the session presumed held.
        outcome, final = None, False
    return AttendanceNote(
        rec.key,
        result.status.value,
        verdict.detail,
        final,
        outcome,
        ATTENDANCE_PREFIX + verdict.detail,
    )
