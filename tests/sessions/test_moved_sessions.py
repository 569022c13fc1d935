"""Issue 9, finding 1, on the Google and Graph fakes: a session the manager drags to
another month, then a full read (cursors expired), must stay the seller's one session
where it now lies: never called cancelled, never booked a second time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.model import Month, SessionState
from scheduler.service.jobs import reconcile_and_rebook
from scheduler.sessions.booking import book_month
from tests.fakes.google_harness import google_fake, google_key_file  # noqa: F401
from tests.fakes.google_server import FakeGoogle
from tests.invariant.backends import google_world, graph_world
from tests.invariant.worlds import World, month_of

JANUARY = Month(2031, 1)
BOOKED_AT = datetime(2031, 1, 2, 7, 0, tzinfo=UTC)
TARGETS = {
    "10 February": datetime(2031, 2, 10, 9, 0, tzinfo=UTC),
    "March": datetime(2031, 3, 12, 9, 0, tzinfo=UTC),  # past the window of early January
    "May": datetime(2031, 5, 14, 9, 0, tzinfo=UTC),  # far past it
}


@pytest.fixture(params=["google", "outlook"])
def world(
    request: pytest.FixtureRequest,
    google_fake: FakeGoogle,  # noqa: F811
    google_key_file: Path,  # noqa: F811
) -> Iterator[World]:
    make: Callable[[], World] = (
        (lambda: google_world(google_fake, google_key_file))
        if request.param == "google"
        else graph_world
    )
    made = make()
    yield made
    made.close()


@pytest.mark.parametrize("where", list(TARGETS))
def test_moved_session_then_full_read_is_not_booked_twice(world: World, where: str) -> None:
    rt = world.runtime()
    try:
        book_month(rt, JANUARY, BOOKED_AT)
        reconcile_and_rebook(rt, BOOKED_AT)
        rec = next(r for r in rt.store.sessions(month=JANUARY) if r.state is SessionState.BOOKED)
        start = TARGETS[where]
        world.harness.move_in_calendar(rec.key, start, start + timedelta(minutes=45))
        world.harness.expire_cursor()  # the next read is a full one

        now = BOOKED_AT + timedelta(days=1)
        summary, rebooked = reconcile_and_rebook(rt, now)
        assert summary.full_reads == 1 and not summary.errors
        moved = rt.store.get(rec.key)
        assert moved is not None and moved.state is SessionState.RESCHEDULED
        assert (moved.start, moved.moved) == (start, True)
        assert rebooked == 0 and len(rt.store.sessions(month=JANUARY, seller_id=rec.seller_id)) == 1

        # The month it now lies in counts it: booking that month adds none for this seller.
        book_month(rt, Month(*month_of(start)), now)
        email = next(p.email for p in rt.org.people() if p.id == rec.seller_id).lower()
        mine = [e for e in world.census() if email in e.attendees]
        assert [(e.key, e.start) for e in mine if month_of(e.start) == month_of(start)] == [
            (rec.key, start)
        ]
        assert [e.key for e in mine if month_of(e.start) == (2031, 1)] == []

        # And a second full read later (the month rolls over) keeps it where it is.
        world.harness.expire_cursor()
        reconcile_and_rebook(rt, datetime(2031, 2, 1, 6, 0, tzinfo=UTC))
        again = rt.store.get(rec.key)
        assert again is not None and again.state is SessionState.RESCHEDULED
        assert again.start == start
    finally:
        rt.store.close()


def test_deleted_session_is_cancelled_and_rebooked(world: World) -> None:
    """The other half: really gone (looked up, not found) is cancelled and rebooked."""
    rt = world.runtime()
    try:
        book_month(rt, JANUARY, BOOKED_AT)
        reconcile_and_rebook(rt, BOOKED_AT)
        rec = next(r for r in rt.store.sessions(month=JANUARY) if r.state is SessionState.BOOKED)
        world.harness.cancel_in_calendar(rec.key)
        world.harness.expire_cursor()
        summary, rebooked = reconcile_and_rebook(rt, BOOKED_AT + timedelta(days=1))
        gone = rt.store.get(rec.key)
        assert gone is not None and gone.state is SessionState.CANCELLED
        assert rebooked == 1 and not summary.errors
    finally:
        rt.store.close()


def test_a_failed_look_up_concludes_nothing(world: World) -> None:
    """Missing from a full read (moved far away) and the look-up fails: the session
    waits (listed in the errors; not cancelled, not rebooked, not presumed held when
    its old time passes) until a look-up can tell."""
    from connectors.base import Lookup

    rt = world.runtime()
    try:
        book_month(rt, JANUARY, BOOKED_AT)
        reconcile_and_rebook(rt, BOOKED_AT)
        rec = next(r for r in rt.store.sessions(month=JANUARY) if r.state is SessionState.BOOKED)
        may = TARGETS["May"]
        world.harness.move_in_calendar(rec.key, may, may + timedelta(minutes=45))
        world.harness.expire_cursor()
        connector = rt._connectors[world.name]
        real = connector.lookup
        connector.lookup = lambda ref, keys: Lookup({}, {k: "throttled (injected)" for k in keys})  # type: ignore[method-assign]
        assert rec.end is not None
        after = rec.end + timedelta(hours=1)
        summary, rebooked = reconcile_and_rebook(rt, after)
        waiting = rt.store.get(rec.key)
        assert waiting is not None and waiting.state is SessionState.BOOKED
        assert rebooked == 0
        assert any(rec.key in e and "throttled (injected)" in e for e in summary.errors)
        connector.lookup = real  # type: ignore[method-assign]
        world.harness.expire_cursor()
        reconcile_and_rebook(rt, after)
        settled = rt.store.get(rec.key)
        assert settled is not None and settled.state is SessionState.RESCHEDULED
        assert settled.start == may
    finally:
        rt.store.close()
