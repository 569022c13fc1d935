"""A hypothesis state machine that hunts for broken promises in the follow-up.

Rules are what the service does (book a month, reconcile and rebook), what people do
in their calendars (reply, delete, cancel, drag the session within its month, into
another month, beyond the reconcile window), what time does (days pass, months roll
over), and what goes wrong (sync cursors expire, calls fail, the process dies between
any two steps or in the middle of creating events). After every step the calendars
themselves, read from the back end's own state, must show:

1. at most the policy's one live Coachpass event per seller and calendar month, the
   month being where the event lies;
2. every live Coachpass event known to the store;
3. after a reconcile that reported no error, the store's time for every live event
   that lies (in the calendar or in the store) within the reconcile window equals
   the calendar's, and the store does not call it cancelled.

People only drag a session into a month in which its seller has no other live
session: a manager who gives a seller two sessions in one month did so on purpose;
the promise is about what Coachpass does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from connectors.base import ChangeAction, ConnectorError, EventChange, Response
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.service.jobs import reconcile_and_rebook
from scheduler.sessions.booking import book_month, month_window
from scheduler.sessions.reconcile import default_months
from tests.contract.harness import PEOPLE
from tests.invariant.worlds import (
    MANAGER,
    ORG_ZONE,
    SELLERS,
    Crash,
    CrashingCreate,
    LiveEvent,
    World,
    month_of,
)

START = datetime(2031, 1, 2, 7, 0, tzinfo=UTC)
SELLER_OF = {PEOPLE[s][0]: s for s in SELLERS}
RESPONSES = (Response.DECLINED, Response.ACCEPTED, Response.TENTATIVE)
#: Paths the machines took, over all examples of a run (what a hunt reached).
REACHED: Counter[str] = Counter()


class CalendarMachine(RuleBasedStateMachine):
    make_world: Callable[[], World]  # set by each back end's test

    def __init__(self) -> None:
        super().__init__()
        self.world = type(self).make_world()
        self.now = START
        self.rt: Runtime = self.world.runtime()
        self.synced = False  # a clean reconcile ran and nothing changed since
        self.log: list[str] = []  # which paths were taken (for the report)

    def teardown(self) -> None:
        REACHED.update(self.log)
        self.rt.store.close()
        self.world.close()

    # --- helpers ---------------------------------------------------------------------

    def this_month(self) -> Month:
        return self.rt.month_of(self.now)

    def service(self, run: Callable[[], object]) -> bool:
        """Run one job as the service would: a connector failure ends the job (the
        next run takes over), anything else is a bug and fails the test."""
        try:
            run()
        except ConnectorError as exc:
            self.log.append(f"job failed: {type(exc).__name__}")
            return False
        return True

    def future_events(self) -> list[LiveEvent]:
        soon = self.now + timedelta(hours=2)
        return sorted(
            (
                e
                for e in self.world.census()
                if e.start > soon and e.attendees & set(SELLER_OF) and e.organisers
            ),
            key=lambda e: e.key,
        )

    def seller_of(self, event: LiveEvent) -> str:
        return SELLER_OF[sorted(event.attendees & set(SELLER_OF))[0]]

    def room_in(self, event: LiveEvent, month: tuple[int, int]) -> bool:
        """No other live session of the event's seller lies in `month`."""
        seller = self.seller_of(event)
        return not any(
            e.key != event.key and month_of(e.start) == month and self.seller_of(e) == seller
            for e in self.world.census()
            if e.attendees & set(SELLER_OF)
        )

    def changed(self) -> None:
        self.synced = False

    # --- the service -----------------------------------------------------------------

    @initialize(
        data=st.data(),
        months_on=st.sampled_from([2, 3]),
        day=st.integers(1, 28),
        same_month=st.booleans(),
    )
    def booked_ahead(self, data: st.DataObject, months_on: int, day: int, same_month: bool) -> None:
        """The service's normal state (this month and the next booked and followed),
        then issue 9's finding 1: a manager drags a session beyond the reconcile
        window, the cursors expire, the service reads in full; maybe the month rolls
        over. Every example starts there; the rules go on from it at random."""
        self.service(lambda: book_month(self.rt, self.this_month(), self.now))
        self.service(lambda: book_month(self.rt, self.this_month().next(), self.now))
        self.reconcile()
        self.organiser_moves(data, months_on, day, 10)
        self.cursors_expire()
        self.reconcile()
        if not same_month:
            self.next_month_begins()

    @rule(ahead=st.booleans())
    def book(self, ahead: bool) -> None:
        month = self.this_month().next() if ahead else self.this_month()
        self.service(lambda: book_month(self.rt, month, self.now))
        self.changed()

    @rule()
    def reconcile(self) -> None:
        outcome: list[bool] = []

        def run() -> None:
            months = default_months(self.this_month())
            window_end = month_window(max(months))[1]
            beyond = any(e.start >= window_end for e in self.world.census())
            summary, _rebooked = reconcile_and_rebook(self.rt, self.now)
            outcome.append(not summary.errors)
            if summary.full_reads and beyond:
                # The path of issue 9's finding 1: a full read that cannot see a
                # live session because it was moved beyond the window.
                self.log.append("full read with a session beyond the window")
            elif summary.full_reads:
                self.log.append("full read")

        self.synced = self.service(run) and outcome == [True]

    @rule(seed=st.integers(0, 2**16))
    def reconcile_under_faults(self, seed: int) -> None:
        self.world.faults_on(seed)
        self.world.flaky(self.rt, seed)
        try:
            self.service(lambda: reconcile_and_rebook(self.rt, self.now))
        finally:
            self.world.faults_off()
            self.world.steady(self.rt)
        self.changed()

    @rule(seed=st.integers(0, 2**16), ahead=st.booleans())
    def book_under_faults(self, seed: int, ahead: bool) -> None:
        month = self.this_month().next() if ahead else self.this_month()
        self.world.faults_on(seed)
        self.world.flaky(self.rt, seed)
        try:
            self.service(lambda: book_month(self.rt, month, self.now))
        finally:
            self.world.faults_off()
            self.world.steady(self.rt)
        self.changed()

    # --- crashes -----------------------------------------------------------------------

    @rule()
    def crash(self) -> None:
        """The process dies between two steps: every object is gone, the store and
        the calendars stay."""
        self.rt.store.close()
        self.rt = self.world.runtime()
        self.changed()

    @rule(after=st.booleans(), ahead=st.booleans())
    def crash_while_creating(self, after: bool, ahead: bool) -> None:
        month = self.this_month().next() if ahead else self.this_month()
        self.rt._connectors[self.world.name] = CrashingCreate(self.world.make_connector(), after)
        try:
            book_month(self.rt, month, self.now)
        except Crash:
            self.log.append("crashed mid-create " + ("after" if after else "before"))
        except ConnectorError:
            pass
        self.crash()

    # --- people --------------------------------------------------------------------------

    @rule(data=st.data(), response=st.sampled_from(RESPONSES))
    def seller_replies(self, data: st.DataObject, response: Response) -> None:
        events = self.future_events()
        if not events:
            return
        event = data.draw(st.sampled_from(events))
        self.world.harness.respond(event.key, self.seller_of(event), response)
        self.changed()

    @rule(data=st.data())
    def organiser_deletes(self, data: st.DataObject) -> None:
        events = self.future_events()
        if not events:
            return
        self.world.harness.cancel_in_calendar(data.draw(st.sampled_from(events)).key)
        self.changed()

    @rule(data=st.data())
    def organiser_cancels(self, data: st.DataObject) -> None:
        events = self.future_events()
        if not events:
            return
        event = data.draw(st.sampled_from(events))
        ref = self.world.harness.ref(MANAGER)
        self.world.harness.connector.update([EventChange(event.key, ref, ChangeAction.CANCEL)])
        self.changed()

    @rule(
        data=st.data(),
        months_on=st.sampled_from([2, 3, 0, 1]),
        day=st.integers(1, 28),
        hour=st.integers(9, 15),
    )
    def organiser_moves(self, data: st.DataObject, months_on: int, day: int, hour: int) -> None:
        """Drag a session within its month (0), to the next (1), or beyond the
        reconcile window (2, 3 months after this one)."""
        events = self.future_events()
        if not events:
            return
        event = data.draw(st.sampled_from(events))
        base = Month(*month_of(event.start)) if months_on < 2 else self.this_month()
        target = base
        for _ in range(months_on):
            target = target.next()
        local = datetime(target.year, target.month, day, hour, 0, tzinfo=ORG_ZONE)
        start = local.astimezone(UTC)
        if start <= self.now + timedelta(hours=2):
            return
        if months_on and not self.room_in(event, (target.year, target.month)):
            return
        window_end = month_window(max(default_months(self.this_month())))[1]
        self.log.append("moved beyond the window" if start >= window_end else "moved")
        self.world.harness.move_in_calendar(event.key, start, start + (event.end - event.start))
        self.changed()

    @rule(data=st.data(), months_on=st.sampled_from([2, 3]), day=st.integers(1, 28))
    def moved_beyond_then_full_read(self, data: st.DataObject, months_on: int, day: int) -> None:
        """Issue 9's finding 1 as one step: a session dragged beyond the reconcile
        window, every cursor expired, then the service reconciles and rebooks."""
        self.organiser_moves(data, months_on, day, 10)
        self.cursors_expire()
        self.reconcile()

    @precondition(lambda self: self.now < START + timedelta(days=150))
    @rule()
    def next_month_begins(self) -> None:
        """The service on the 1st: a new month (a new cursor label, so a full read),
        reconcile and rebook, then book the month after."""
        first = self.this_month().next().first_day
        self.now = datetime(first.year, first.month, first.day, 6, 0, tzinfo=UTC)
        self.log.append("month rollover")
        self.reconcile()
        self.service(lambda: book_month(self.rt, self.this_month().next(), self.now))
        self.changed()

    # --- time and cursors ------------------------------------------------------------

    @rule()
    def cursors_expire(self) -> None:
        self.world.harness.expire_cursor()
        self.log.append("cursor expired")
        self.changed()

    @precondition(lambda self: self.now < START + timedelta(days=150))
    @rule(days=st.integers(1, 20))
    def time_passes(self, days: int) -> None:
        before = self.this_month()
        self.now += timedelta(days=days)
        if self.this_month() != before:
            self.log.append("month rollover")
        self.changed()

    # --- the invariant, read from the calendars --------------------------------------

    @invariant()
    def calendars_keep_the_promise(self) -> None:
        census = self.world.census()  # once per step: each read costs a scan or a request
        sessions = [e for e in census if e.attendees & set(SELLER_OF)]
        # 1. At most the policy's number per seller and month, where the event lies.
        counts = Counter((self.seller_of(e), month_of(e.start)) for e in sessions)
        most = self.rt.org.policy.sessions_per_seller
        over = {k: n for k, n in counts.items() if n > most}
        assert not over, f"sellers with too many live sessions in a month: {over}"
        # 2. Every live event known to the store.
        records = {e.key: self.rt.store.get(e.key) for e in census}
        unknown = [e for e in census if records[e.key] is None]
        assert not unknown, f"live events the store does not know: {unknown}"
        # 3. After a clean reconcile, the store's times are the calendar's.
        if not self.synced:
            return
        months = default_months(self.this_month())
        low, high = month_window(min(months))[0], month_window(max(months))[1]
        for event in census:
            rec = records[event.key]
            assert rec is not None
            stored_inside = rec.start is not None and low <= rec.start < high
            if not (low <= event.start < high or stored_inside):
                continue  # moved from beyond the window to beyond it: read when in reach
            assert (rec.start, rec.end) == (event.start, event.end), (
                f"store has {rec.start}..{rec.end} for {event}"
            )
            assert rec.state is not SessionState.CANCELLED, f"live but cancelled in store: {rec}"
