"""A full month booked through a hostile Google: exactly one event per seller.

10 % of calls (requests and batch parts alike) answer 429 with Retry-After, 503, or
403 rate limits, and every batch has its connection reset once after half its parts
took effect. Whatever the connector does to recover, no seller may end up with two
sessions, and every seller gets one.
"""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from connectors.base import SESSION_TAG, Attendee, CalendarRef, ConnectorContext, NewEvent, Outcome
from connectors.google.connector import GoogleConnector
from scheduler.model import Month, session_key
from tests.contract.suite import WINDOW_END, WINDOW_START, at
from tests.fakes.google_faults import FaultPlan
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle

MANAGERS = 4
SELLERS = 15
MONTH = Month(2031, 3)


def month_of_sessions(manager: CalendarRef, sellers: list[CalendarRef]) -> list[NewEvent]:
    events = []
    for index, seller in enumerate(sellers):
        start = at(3 + index, 10)  # one a day from the 3rd
        events.append(
            NewEvent(
                key=session_key("org", manager.person_id, seller.person_id, MONTH, 0),
                organizer=manager,
                attendees=(Attendee(seller.email),),
                start=start,
                end=start + timedelta(minutes=45),
                summary=f"Coaching {seller.person_id}",
                description_text="Agenda",
            )
        )
    return events


def book_month(connector: GoogleConnector, teams: dict[CalendarRef, list[CalendarRef]]) -> None:
    """What the service does: read free/busy, book, and retry failures on the next run."""
    for manager, sellers in teams.items():
        answer = connector.busy([manager, *sellers], WINDOW_START, WINDOW_END)
        assert not answer.errors
        pending = month_of_sessions(manager, sellers)
        for _run in range(5):
            results = connector.create(pending)
            assert all(r.ok or r.retryable for r in results), results
            pending = [e for e, r in zip(pending, results, strict=True) if not r.ok]
            if not pending:
                break
        assert not pending


def test_faulty_month_books_exactly_one_event_per_seller(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    teams: dict[CalendarRef, list[CalendarRef]] = {}
    for m in range(MANAGERS):
        manager = CalendarRef(f"m{m}", f"m{m}@example.com", f"m{m}@example.com")
        fake.add_user(manager.email)
        teams[manager] = []
        for s in range(SELLERS):
            seller = CalendarRef(f"m{m}s{s}", f"m{m}s{s}@example.com", f"m{m}s{s}@example.com")
            fake.add_user(seller.email)
            teams[manager].append(seller)
    fake.faults = FaultPlan(rate=0.10, reset_batches=True, seed=4)
    sleep = RecordedSleep()
    connector = GoogleConnector(
        connector_options(fake, google_key_file, max_attempts=8),
        ConnectorContext(base_dir=tmp_path),
        sleep=sleep,
    )
    book_month(connector, teams)
    book_month(connector, teams)  # a second run (say, after a crash) adds nothing

    assert fake.faults.injected > 20 and fake.faults.resets >= MANAGERS
    assert any(d >= 1 for d in sleep.delays)  # the 429s' Retry-After was honoured
    for manager, sellers in teams.items():
        events = fake.store.events(manager.email)
        assert len(events) == SELLERS  # none twice
        booked = {
            a["email"]
            for e in events
            if e["extendedProperties"]["private"][SESSION_TAG] == e["id"]
            for a in e["attendees"]
        }
        assert booked == {s.email for s in sellers}  # everyone once

    fake.faults = FaultPlan()
    again = connector.create(month_of_sessions(*next(iter(teams.items()))))
    assert {r.outcome for r in again} == {Outcome.EXISTED}
