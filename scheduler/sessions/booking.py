"""Plan and book a month: read busy time, plan each team, write intents, create events.

The order is what makes booking safe to repeat and to crash: every session is
written to the store as `planned` (and committed) *before* the calendar is asked to
create it, and creation is idempotent by the session key. A run that dies between
the two leaves a `planned` row; the next run pushes it again and the connector
answers `EXISTED` if the first call got through, so there is never a second event.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from time import monotonic

from connectors.base import (
    LINK_MARK,
    Attachment,
    Attendee,
    CalendarConnector,
    ChangeAction,
    ConnectorError,
    EventChange,
    NewEvent,
    Outcome,
    Result,
    TransientError,
)
from scheduler.errors import UserError
from scheduler.model import (
    NO_REBOOK,
    SLOT_PASSED,
    SUPERSEDED,
    Month,
    SessionRecord,
    SessionState,
    Team,
    session_key,
)
from scheduler.planning.problem import FixedSession, TeamPlan, TeamProblem
from scheduler.runtime import Runtime
from scheduler.service import metrics
from scheduler.sessions.actions import days_given_up
from scheduler.sessions.agenda import Agenda, no_link_text, render_agenda
from scheduler.sessions.busy_pass import read_busy_all
from scheduler.sessions.failures import TeamFailure, team_failure, who
from scheduler.sessions.month_theme import theme_of_month
from scheduler.sessions.moved import follow_moves
from scheduler.sessions.pool import answered_in_runs, in_order, workers_for
from scheduler.sessions.units import create_units
from scheduler.store.lock import hold
from scheduler.store.plans import PlanStore
from scheduler.store.session_writes import Intent, Move

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class BookingSummary:
    month: Month
    plans: tuple[TeamPlan, ...]
    created: int = 0
    adopted: int = 0  # the event existed already (retry or crash repair)
    failed: tuple[tuple[str, str], ...] = ()  # (session key, error)
    unbookable: tuple[tuple[str, str], ...] = ()  # (seller id, reason)
    not_rebooked: tuple[tuple[str, str], ...] = ()  # (seller id, why no new slot this month)
    # Isolation: a team whose calendars could not be read is skipped (the others are
    # booked); a person whose calendar alone could not be read is listed here too
    # (that seller is also unbookable, with the same reason).
    failed_teams: tuple[TeamFailure, ...] = ()
    # Sellers not planned because a session of theirs in a neighbouring month could
    # not be looked up (it may have moved into this month): a failure, retried.
    unchecked: tuple[tuple[str, str], ...] = ()  # (seller id, why)

    def failures(self) -> list[str]:
        """One line per failure, naming the team, person or session and the fix."""
        return (
            [f.text for f in self.failed_teams]
            + [f"session {key}: {error}" for key, error in self.failed]
            + [f"seller {sid}: {why}" for sid, why in self.unchecked]
        )


def month_window(month: Month) -> tuple[datetime, datetime]:
    """The UTC span that covers the month in every zone (UTC-12 .. UTC+14)."""
    start = datetime.combine(month.first_day, time(0), UTC) - timedelta(days=1)
    end = datetime.combine(month.last_day, time(0), UTC) + timedelta(days=2)
    return start, end


def latest_by_seller(records: Sequence[SessionRecord]) -> dict[str, SessionRecord]:
    latest: dict[str, SessionRecord] = {}
    for rec in records:
        if rec.seller_id not in latest or rec.attempt > latest[rec.seller_id].attempt:
            latest[rec.seller_id] = rec
    return latest


def _needs_slot(rt: Runtime, latest: SessionRecord | None) -> int | None:
    """The attempt number to plan for a seller, or None when nothing is to be done."""
    policy = rt.org.policy
    if latest is None:
        return 1
    if latest.state is SessionState.UNBOOKABLE:
        return latest.attempt
    if latest.reason.startswith(NO_REBOOK):
        return None
    if latest.state is SessionState.CANCELLED and latest.reason.startswith(SLOT_PASSED):
        return latest.attempt + 1  # our own failure to book in time, not a person's
    if (latest.state is SessionState.DECLINED and policy.rebook_on_decline) or (
        latest.state is SessionState.CANCELLED and policy.rebook_on_cancel
    ):
        return latest.attempt + 1
    return None


PREVIOUS_MONTHS = 12


def _previous_sessions(rt: Runtime, month: Month) -> dict[str, SessionRecord]:
    """Each seller's most recent held session in the year before `month` (time
    preference and follow-ups for the agenda). Bounded so a store that has grown
    for years is not read whole on every booking run."""
    months = [month.previous()]
    while len(months) < PREVIOUS_MONTHS:
        months.append(months[-1].previous())
    before = [
        r
        for r in rt.store.sessions(org_id=rt.org.id, months=months, states=[SessionState.HELD])
        if r.start is not None
    ]
    out: dict[str, SessionRecord] = {}
    for rec in sorted(before, key=lambda r: r.start or datetime.min.replace(tzinfo=UTC)):
        out[rec.seller_id] = rec
    return out


def _live_lying_in(rt: Runtime, month: Month) -> dict[str, int]:
    """Live (or held) sessions per seller that lie in `month` by their time, whatever
    month they were booked for: where a session lies decides which month it counts
    for, so a session moved here from another month fills this month's place."""
    counts: dict[str, int] = defaultdict(int)
    for rec in rt.store.sessions(org_id=rt.org.id, starting=month_window(month)):
        if (
            rec.start is not None
            and rt.month_of(rec.start) == month
            and (rec.state.active or rec.state is SessionState.HELD)
        ):
            counts[rec.seller_id] += 1
    return counts


def build_problems(
    rt: Runtime,
    month: Month,
    now: datetime,
    progress: Progress = _no_progress,
    failures: list[TeamFailure] | None = None,
    skip: Collection[str] = (),
) -> tuple[list[TeamProblem], dict[tuple[str, str], int]]:
    """One planning problem per team with sellers to book (none of `skip`), and the
    attempt number each (team, seller) is planned under.

    With `failures`, a team whose calendars cannot be read at all (the manager
    cannot be impersonated, the provider kept failing) is left out and listed
    there, so one team never stops the others; without it the error propagates."""
    records = rt.store.sessions(org_id=rt.org.id, month=month)
    nearby = rt.store.sessions(org_id=rt.org.id, months=[month.previous(), month, month.next()])
    window = month_window(month)
    latest = latest_by_seller(records)
    previous = _previous_sessions(rt, month)
    problems: list[TeamProblem] = []
    attempts: dict[tuple[str, str], int] = {}
    teams = rt.org.teams
    lying = _live_lying_in(rt, month)
    wanted: list[tuple[Team, list[str]]] = []
    nearby_by_manager: dict[str, list[SessionRecord]] = defaultdict(list)
    for rec in nearby:
        nearby_by_manager[rec.manager_id].append(rec)
    for team in teams:
        to_book = []
        for seller in team.sellers:
            attempt = _needs_slot(rt, latest.get(seller.id))
            if attempt is not None and (
                lying.get(seller.id, 0) >= rt.org.policy.sessions_per_seller or seller.id in skip
            ):
                # A live session lies in this month already, though booked for
                # another (moved here): it counts here, so no second one.
                continue
            if attempt is not None:
                to_book.append(seller.id)
                attempts[(team.id, seller.id)] = attempt
        if to_book:
            wanted.append((team, to_book))
    # Every team's calendars in one pass (see busy_pass), on the I/O pool.
    read = read_busy_all(rt, wanted, *window)
    # Once for the month, not per team (every team would scan every session).
    given_up = days_given_up(rt, records, {s for _, sellers in wanted for s in sellers})
    for n, (team, to_book) in enumerate(wanted):
        progress("reading calendars", n + 1, len(wanted))
        # By when they are, not which month they were booked for: a session moved
        # in from a neighbouring month still takes the manager's time and caps.
        fixed = tuple(
            FixedSession(r.seller_id, r.start, r.end)
            for r in nearby_by_manager.get(team.manager.id, ())
            if r.start is not None
            and r.end is not None
            and window[0] <= r.start < window[1]
            and (r.state.active or r.state is SessionState.HELD)
        )
        answer = read[team.id]
        if isinstance(answer, ConnectorError):
            if failures is None:
                raise answer
            failures.append(team_failure(team, answer))
            continue
        busy, errors = dict(answer.busy), answer.errors
        for seller_id in to_book:  # not the day a manager just gave up
            if seller_id in given_up:
                busy[seller_id] = busy.get(seller_id, ()) + given_up[seller_id]
        if failures is not None:
            names = {p.id: p for p in [team.manager, *team.sellers]}
            failures.extend(
                TeamFailure(
                    team.id,
                    pid,
                    f"team {team.id}: calendar of {names[pid].name} <{names[pid].email}> "
                    f"not read, so no slot for them this run: {error}",
                )
                for pid, error in sorted(errors.items())
                if pid in names
            )
        problems.append(
            TeamProblem(
                team=team,
                policy=rt.org.policy,
                month=month,
                now=now,
                busy=busy,
                to_book=tuple(to_book),
                fixed=fixed,
                calendar_errors=errors,
                previous={
                    sid: rec.start
                    for sid, rec in previous.items()
                    if rec.start is not None and sid in to_book
                },
            )
        )
    return problems, attempts


def plan_month(
    rt: Runtime,
    month: Month,
    now: datetime,
    progress: Progress = _no_progress,
    failures: list[TeamFailure] | None = None,
    skip: Collection[str] = (),
) -> tuple[list[TeamPlan], dict[tuple[str, str], int]]:
    """Dry run: the plans the planner would book now. Writes no session; it keeps
    each team's proven-optimal plan in the store under its planning key, and takes
    a stored plan whose key matches instead of solving again (a `plan` then a
    `book`: see `scheduler.store.plans`; reused plans say `reused`). Teams whose
    calendars could not be read go to `failures` (see `build_problems`)."""
    from scheduler.planning.availability import zone
    from scheduler.planning.key import planning_key
    from scheduler.planning.planner import plan_teams

    problems, attempts = build_problems(rt, month, now, progress, failures, skip)
    keys = {p.team.id: planning_key(p) for p in problems}
    cache = PlanStore(rt.store.engine)
    zones = {
        p.team.id: zone(p.team.manager.timezone, f"manager {p.team.manager.id}") for p in problems
    }
    stored = cache.matching(rt.org.id, month, keys, zones)
    misses = [p for p in problems if p.team.id not in stored]
    fresh: list[TeamPlan] = []
    if misses:
        started = monotonic()
        fresh = plan_teams(misses)
        metrics.observe_plans(monotonic() - started, [p.optimal for p in fresh])
    # Only proven plans: one cut by the time limit depends on the clock too.
    cache.put(
        rt.org.id,
        month,
        [(plan.team_id, keys[plan.team_id], plan) for plan in fresh if plan.optimal],
        now=now,
    )
    solved = {plan.team_id: plan for plan in fresh}
    plans = [
        dataclasses.replace(stored[p.team.id], reused=True)
        if p.team.id in stored
        else solved[p.team.id]
        for p in problems
    ]
    return plans, attempts


def book_month(
    rt: Runtime, month: Month, now: datetime, progress: Progress = _no_progress
) -> BookingSummary:
    """Plan what is missing in `month`, record the intents, then create the events.

    Held under a store-wide lock per organisation and month: the service and an
    admin's CLI run never plan the same month from the same stale picture."""
    with hold(rt.store.engine, f"book:{rt.org.id}:{month}"):
        return _book_month(rt, month, now, progress)


def _book_month(rt: Runtime, month: Month, now: datetime, progress: Progress) -> BookingSummary:
    # Planned rows whose time has passed are retired first, so this run plans anew.
    # A calendar that refuses the clean-up fails that session alone (listed by
    # push_planned, which tries again below).
    for rec in rt.store.sessions(org_id=rt.org.id, month=month, states=[SessionState.PLANNED]):
        with contextlib.suppress(ConnectorError):
            _expire_if_passed(rt, rec, now)
    # Sessions dragged into this month since the last reconcile count here.
    latest = latest_by_seller(rt.store.sessions(org_id=rt.org.id, month=month))
    wanted = [
        s.id
        for team in rt.org.teams
        for s in team.sellers
        if _needs_slot(rt, latest.get(s.id)) is not None
    ]
    uncertain = follow_moves(rt, month, now, wanted)
    team_failures: list[TeamFailure] = []
    plans, attempts = plan_month(rt, month, now, progress, team_failures, skip=uncertain)
    unbookable: list[tuple[str, str]] = []
    unchecked = [
        (sid, f"a session of a neighbouring month could not be looked up ({why}); next run")
        for sid, why in sorted(uncertain.items())
    ]
    not_rebooked: list[tuple[str, str]] = list(unchecked)
    # A team's intents are one transaction (one look at its keys, one commit), and
    # every team's are committed before push_planned makes the first calendar call.
    # Batching was reverted once because the failover test, freezing the leader at
    # its first visible intent, then often froze it inside a local calendar's file
    # lock; the test now freezes it outside calendar locks, and a lock held by a
    # frozen process times out (LOCK_WAIT_SECONDS), so batching stays.
    for plan in plans:
        team = rt.org.team(plan.team_id)
        decisions: list[_Decision] = []
        for proposal in plan.proposals:
            decisions.append(
                _Decision(
                    proposal.seller_id,
                    attempts[(team.id, proposal.seller_id)],
                    SessionState.PLANNED,
                    start=proposal.start,
                    end=proposal.end,
                )
            )
        for miss in plan.unbookable:
            if attempts[(team.id, miss.seller_id)] > 1:
                # A rebook with no room left: the seller stays declined/cancelled
                # (that is what happened), not "unbookable"; top-up tries again.
                not_rebooked.append((miss.seller_id, miss.reason))
                continue
            decisions.append(
                _Decision(
                    miss.seller_id,
                    attempts[(team.id, miss.seller_id)],
                    SessionState.UNBOOKABLE,
                    reason=miss.reason,
                )
            )
            unbookable.append((miss.seller_id, miss.reason))
        _record_intents(rt, team, month, now, decisions)
    created, adopted, failed = push_planned(rt, month, now, progress)
    return BookingSummary(
        month=month,
        plans=tuple(plans),
        created=created,
        adopted=adopted,
        failed=tuple(failed),
        unbookable=tuple(unbookable),
        not_rebooked=tuple(not_rebooked),
        failed_teams=tuple(team_failures),
        unchecked=tuple(unchecked),
    )


@dataclass(frozen=True)
class _Decision:
    """The planner's decision for one seller: a slot (`planned`) or none (`unbookable`)."""

    seller_id: str
    attempt: int
    state: SessionState
    start: datetime | None = None
    end: datetime | None = None
    reason: str = ""


def _record_intents(
    rt: Runtime, team: Team, month: Month, now: datetime, decisions: Sequence[_Decision]
) -> None:
    """Write the planner's decisions for one team in one transaction, committed
    before any calendar call: new keys inserted, a seller unbookable before who now
    has a slot moved to `planned` under the same key (top-up)."""
    if not decisions:
        return
    keyed = [
        (session_key(rt.org.id, team.manager.id, d.seller_id, month, d.attempt), d)
        for d in decisions
    ]
    with rt.store.batch():
        existing = rt.store.get_many([key for key, _ in keyed])
        rt.store.add_sessions(
            [
                Intent(
                    SessionRecord(
                        key=key,
                        org_id=rt.org.id,
                        team_id=team.id,
                        manager_id=team.manager.id,
                        seller_id=w.seller_id,
                        month=month,
                        attempt=w.attempt,
                        state=w.state,
                        start=w.start,
                        end=w.end,
                        connector=team.manager.connector,
                        reason=w.reason,
                    ),
                    w.reason or "planned",
                )
                for key, w in keyed
                if key not in existing
            ],
            now=now,
        )
        for key, w in keyed:
            found = existing.get(key)
            if found is None or found.state is not SessionState.UNBOOKABLE:
                continue
            # Top-up found room for a seller who could not be booked before: same key.
            if w.state is SessionState.PLANNED:
                rt.store.transition(
                    key,
                    w.state,
                    now=now,
                    expect={SessionState.UNBOOKABLE},
                    detail="slot found",
                    start=w.start,
                    end=w.end,
                    reason="",
                )
            elif found.reason != w.reason:
                rt.store.set_fields(key, now=now, reason=w.reason)


def _attachments(
    agenda: Agenda, month: Month, guideline_url: str | None, agenda_file: bool = True
) -> tuple[Attachment, ...]:
    """The agenda as a file; the written guidelines too unless they are linked. None
    when the policy says no files (`agenda_file`): the description carries the agenda,
    and the settings insist on a guideline link then."""
    if not agenda_file:
        return ()
    files = [Attachment(f"coaching-agenda-{month}.html", "text/html", agenda.html.encode())]
    if not guideline_url:
        # HTML, not Markdown: mail and calendar clients show .md as raw text.
        files.append(
            Attachment("coaching-guidelines.html", "text/html", agenda.guideline_html.encode())
        )
    return tuple(files)


PUSH_MARGIN = timedelta(hours=1)


def _cancel_by_key(rt: Runtime, rec: SessionRecord, comment: str) -> None:
    """Cancel the event of `rec` if one exists (found by key when we never learnt
    its id); an event that is not there counts as done."""
    manager = rt.person(rec.manager_id)
    if manager is None:
        return
    change = EventChange(
        rec.key, manager.calendar(), ChangeAction.CANCEL, event_id=rec.event_id, comment=comment
    )
    result = rt.connector(rec.connector or manager.connector).update([change])[0]
    if not result.ok:
        raise TransientError(f"could not cancel session {rec.key}: {result.error}")


def _expire_if_passed(rt: Runtime, rec: SessionRecord, now: datetime) -> bool:
    """A planned session too close or past to invite anyone to (the calendar refused
    for days, say): make sure no event stands, and leave it for a new attempt."""
    if rec.start is None or rec.start > now + PUSH_MARGIN:
        return False
    _cancel_by_key(rt, rec, "the time passed before the invitation went out")
    rt.store.transition(
        rec.key,
        SessionState.CANCELLED,
        now=now,
        expect={SessionState.PLANNED},
        detail=SLOT_PASSED,
        reason=SLOT_PASSED,
    )
    return True


def _taken_by_a_moved_session(
    rt: Runtime, rec: SessionRecord, lying: dict[str, int], now: datetime
) -> bool:
    """A planned session whose seller meanwhile got a session moved into this month
    (a crash left the plan unsent, then the manager dragged one here): the moved one
    is this month's, so the plan is withdrawn, never sent beside it."""
    own = rec.start is not None and rt.month_of(rec.start) == rec.month
    if lying.get(rec.seller_id, 0) - own < rt.org.policy.sessions_per_seller:
        return False
    _cancel_by_key(rt, rec, "this seller already has a coaching session this month")
    rt.store.transition(
        rec.key,
        SessionState.CANCELLED,
        now=now,
        expect={SessionState.PLANNED},
        detail="a session moved into this month takes its place",
        reason=f"{NO_REBOOK}a session moved into this month takes its place",
    )
    lying[rec.seller_id] -= own
    return True


def _retire_declined(
    rt: Runtime, rec: SessionRecord, now: datetime, earlier: Sequence[SessionRecord]
) -> None:
    """Before a rebook is sent, cancel the declined attempt's event: a seller who
    accepted the old one again later would otherwise have two sessions. `earlier`:
    the seller's sessions of the month, as read when the push began."""
    if rec.attempt < 2:
        return
    for old in earlier:
        if (
            old.attempt == rec.attempt - 1
            and old.state is SessionState.DECLINED
            and old.event_id
            and not old.reason.startswith(SUPERSEDED)
        ):
            _cancel_by_key(rt, old, "a new time for this coaching session follows")
            rt.store.set_fields(old.key, now=now, reason=f"{SUPERSEDED} (attempt {rec.attempt})")


def _native_meetings(rt: Runtime, name: str) -> bool:
    """Whether connector `name` makes its own meeting links (Meet, Teams). One that
    cannot even be opened gets the fallback link: its create fails anyway, and
    that failure is reported where it happens."""
    try:
        return bool(getattr(rt.connector(name), "native_meetings", False))
    except (ConnectorError, UserError):
        return False


def push_planned(
    rt: Runtime, month: Month, now: datetime, progress: Progress = _no_progress
) -> tuple[int, int, list[tuple[str, str]]]:
    """Create the calendar events of every `planned` session of the month.

    Also the repair path: `planned` rows left by a crashed run are pushed again, and
    the connector's idempotency by key turns a repeat into `EXISTED`.
    """
    planned = rt.store.sessions(org_id=rt.org.id, month=month, states=[SessionState.PLANNED])
    previous = _previous_sessions(rt, month)
    theme = theme_of_month(rt, month, now) if planned else None
    groups: dict[str, list[tuple[SessionRecord, NewEvent]]] = defaultdict(list)
    failed: list[tuple[str, str]] = []
    lying = _live_lying_in(rt, month)
    # The month's sessions by seller, read once for every rebook among them.
    by_seller: dict[str, list[SessionRecord]] = defaultdict(list)
    if any(rec.attempt > 1 for rec in planned):
        for old in rt.store.sessions(org_id=rt.org.id, month=month):
            by_seller[old.seller_id].append(old)
    for rec in planned:
        try:
            if _expire_if_passed(rt, rec, now):
                failed.append((rec.key, f"{who(rt, rec)}: {SLOT_PASSED}"))
                continue
            if _taken_by_a_moved_session(rt, rec, lying, now):
                continue
            _retire_declined(rt, rec, now, by_seller.get(rec.seller_id, ()))
        except ConnectorError as exc:
            # Its calendar refused the clean-up: this session waits, the others go on.
            failed.append((rec.key, f"{who(rt, rec)}: {exc}; the next book tries again"))
            continue
        team = rt.team_of(rec.team_id)
        seller = rt.person(rec.seller_id)
        if team is None or seller is None or rec.start is None or rec.end is None:
            failed.append(
                (
                    rec.key,
                    f"{who(rt, rec)}: seller {rec.seller_id} or team {rec.team_id} is no "
                    "longer in the config; cancel the session or put them back",
                )
            )
            continue
        manager = team.manager
        video = None
        if rt.org.policy.video_url_template:
            video = rt.org.policy.video_url_template.format(key=rec.key)
        # One link per invite: where the calendar makes its own meeting, the agenda
        # holds a mark the connector fills with the link it really made (the fallback
        # only when it made none), instead of the fallback next to a Teams/Meet link.
        native = rt.org.policy.online_meeting and _native_meetings(rt, manager.connector)
        prev = previous.get(seller.id)
        agenda = render_agenda(
            rt.org,
            team,
            seller,
            month,
            previous_followups=prev.followups if prev else "",
            video_url=LINK_MARK if native else video,
            templates_dir=rt.settings.templates_dir,
            guidelines_dir=rt.settings.guidelines_dir,
            start=rec.start,
            end=rec.end,
            theme=theme,
        )
        event = NewEvent(
            key=rec.key,
            organizer=manager.calendar(),
            attendees=(Attendee(seller.email, seller.name),),
            start=rec.start,
            end=rec.end,
            summary=agenda.subject,
            description_text=agenda.text,
            description_html=agenda.html,
            attachments=_attachments(
                agenda, month, rt.org.guideline_url, rt.org.policy.agenda_file
            ),
            guideline_url=rt.org.guideline_url,
            online_meeting=rt.org.policy.online_meeting,
            video_url=video,
            link_mark=LINK_MARK if native else None,
            no_link_text=no_link_text(rt.org, rt.settings.templates_dir) if native else "",
        )
        groups[manager.connector].append((rec, event))
    created = adopted = 0
    done = 0
    total = sum(len(v) for v in groups.values())
    for name, all_items in groups.items():
        # The store knows which creates may already have reached the calendar (a
        # crash or lost answer earlier); only those need the connector to look first.
        # Every "create sent" mark is committed before the first create goes out.
        keys = [rec.key for rec, _ in all_items]
        sent = rt.store.sent_before(keys)
        rt.store.mark_sent([k for k in keys if k not in sent], now=now)
        items_sent = [
            (rec, dataclasses.replace(e, may_exist=rec.key in sent)) for rec, e in all_items
        ]
        create = partial(_create_call, rt.connector(name))
        units = create_units(name, items_sent)
        workers = workers_for(name, rt.settings.connectors.get(name))
        # Each call's results are recorded in one transaction, and the calls already
        # answered share one (a crash before it commits leaves them `planned` with
        # "create sent": the next book adopts them by key). None is held open while
        # an answer is awaited.
        pairs = in_order(create, units, workers)
        for run in answered_in_runs(pairs, ConnectorError, CALLS_PER_COMMIT):
            with rt.store.batch():
                for items, answer in run:
                    if isinstance(answer, ConnectorError):
                        _record_failed_call(rt, items, answer, now, failed)
                        continue
                    created_n, adopted_n = _apply_created(rt, name, items, answer, now, failed)
                    created += created_n
                    adopted += adopted_n
            for items, _answer in run:
                done += len(items)
                progress("creating events", done, total)
    return created, adopted, failed


#: At most this many create calls' results share one transaction (see push_planned).
CALLS_PER_COMMIT = 50


def _record_failed_call(
    rt: Runtime,
    items: Sequence[tuple[SessionRecord, NewEvent]],
    exc: ConnectorError,
    now: datetime,
    failed: list[tuple[str, str]],
) -> None:
    """The whole call failed (sign-in refused, provider unreachable or still
    throttling after the retries), possibly after some creates got through. The
    store says "create sent" for each of them, so the next book looks every key up
    and adopts what exists; until then each one is listed, never left `planned` in
    silence. Other calls go on."""
    error = (
        f"outcome unknown, the invitation may have gone out ({exc}); "
        "the next book looks it up by its key and adopts it"
    )
    rt.store.set_fields_many([rec.key for rec, _ in items], now=now, reason=error)
    failed.extend((rec.key, f"{who(rt, rec)}: {error}") for rec, _ in items)


def _create_call(
    connector: CalendarConnector, unit: Sequence[tuple[SessionRecord, NewEvent]]
) -> list[Result]:
    """On a worker: the provider call only; the caller writes the store."""
    return connector.create([event for _rec, event in unit])


def _apply_created(
    rt: Runtime,
    name: str,
    items: Sequence[tuple[SessionRecord, NewEvent]],
    results: Sequence[Result],
    now: datetime,
    failed: list[tuple[str, str]],
) -> tuple[int, int]:
    """Record what one create call answered (on the caller's thread, inside the
    caller's transaction): every session created moves to `booked` in one
    compare-and-set pass over the call's keys, not one per session."""
    answered = list(zip(items, results, strict=True))
    booked = rt.store.transition_many(
        [
            Move(
                rec.key,
                SessionState.BOOKED,
                detail=f"{result.outcome.value} in {name}",
                expect=frozenset({SessionState.PLANNED}),
                fields={
                    "event_id": result.event_id,
                    "video_url": result.video_url,  # the link really in the invite
                    "connector": name,
                    "reason": "",
                },
            )
            for (rec, _event), result in answered
            if result.ok
        ],
        now=now,
    )
    created = adopted = 0
    for (rec, _event), result in answered:
        if result.ok:
            if rec.key not in booked:
                # Cancelled by an admin while we were creating it: take it back.
                current = rt.store.get(rec.key)
                if current is not None and not current.state.active:
                    try:
                        _cancel_by_key(rt, current, "this session was cancelled")
                    except ConnectorError as exc:
                        failed.append((rec.key, f"{who(rt, rec)}: cancelled here but {exc}"))
                continue
            if result.outcome is Outcome.EXISTED:
                adopted += 1
            else:
                created += 1
        else:
            error = result.error or "unknown error"
            if result.retryable:
                # A lost answer or a fault after the retries: the create may
                # have landed, and the next book looks it up by key.
                error += "; the next book tries again (and adopts it if it got through)"
            rt.store.set_fields(rec.key, now=now, reason=error)
            failed.append((rec.key, f"{who(rt, rec)}: {error}"))
    return created, adopted
