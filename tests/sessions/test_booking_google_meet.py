"""Booking on Google (the fake Calendar API), through the real booking path: one
meeting link, and a Meet link still "pending" is read again by the next `book`,
which then records it in the store (never the fallback while Meet may still come).
"""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import ConnectorContext
from connectors.google.connector import GoogleConnector
from connectors.google.meet import MEET_READS
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.orgs import person, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
FALLBACK = "https://meet.example.com/coaching-"
PEOPLE = ["boss", "s1", "s2"]
IN_INVITE = "use the meeting link in this invitation"


@pytest.fixture
def rt(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> Iterator[Runtime]:
    for p in PEOPLE:
        fake.add_user(f"{p}@example.com")
    # On Google a person's calendar is their primary calendar: their address.
    people = [{**person(p), "calendar": f"{p}@example.com"} for p in PEOPLE]
    options = connector_options(fake, google_key_file)
    path = write_org(
        tmp_path,
        sellers=len(PEOPLE) - 1,
        policy={"online_meeting": True, "video_url_template": FALLBACK + "{key}"},
        extra={
            "teams": [
                {
                    "id": "t1",
                    "name": "Team One",
                    "connector": "google",
                    "manager": people[0],
                    "sellers": people[1:],
                }
            ],
            "connectors": {"local": {"path": "calendars"}, "google": options},
        },
    )
    runtime = Runtime.open(load_settings(path))
    runtime._connectors["google"] = GoogleConnector(
        options, ConnectorContext(base_dir=tmp_path), sleep=RecordedSleep()
    )
    yield runtime
    runtime.close()


def test_meet_is_the_one_link_and_the_agenda_points_to_it(rt: Runtime, fake: FakeGoogle) -> None:
    summary = book_month(rt, MONTH, NOW)
    assert summary.created == 2 and not summary.failed
    for rec in rt.store.sessions(month=MONTH):
        stored = fake.store.get("boss@example.com", rec.key)
        assert rec.video_url == stored["hangoutLink"]
        assert IN_INVITE in stored["description"]
        assert FALLBACK not in stored["description"] and "coachpass.invalid" not in str(stored)


def test_a_pending_meet_link_is_read_again_by_the_next_book_and_recorded(
    rt: Runtime, fake: FakeGoogle
) -> None:
    fake.store.meet_outcome = "pending"
    fake.store.meet_ready_after_reads = MEET_READS + 1  # settles after this run
    first = book_month(rt, MONTH, NOW)
    assert first.created == 0 and len(first.failed) == 2
    assert all("still generating the Meet link" in error for _key, error in first.failed)
    for rec in rt.store.sessions(month=MONTH):
        assert rec.state is SessionState.PLANNED and rec.video_url is None
        assert FALLBACK not in str(fake.store.get("boss@example.com", rec.key))
    second = book_month(rt, MONTH, NOW)
    assert second.adopted == 2 and not second.failed
    for rec in rt.store.sessions(month=MONTH):
        stored = fake.store.get("boss@example.com", rec.key)
        assert rec.state is SessionState.BOOKED
        assert rec.video_url is not None and rec.video_url == stored["hangoutLink"]
        assert FALLBACK not in str(stored)
