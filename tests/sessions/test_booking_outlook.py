"""Booking a month on Outlook (the fake Graph), through the real booking path.

- one meeting link: the Teams link Graph made is in the invitation's agenda and in
  the attached agenda file, and in the store; the configured fallback is not;
- honest counts under faults: a session counts as booked only when its invitation
  is whole (event, file, seller); the rest are listed as failed and the next `book`
  finishes them, with one invitation per seller carrying the file once.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import NewEvent, Result
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.fakes.graph_client import SECRET_ENV, connect
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph
from tests.orgs import person, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
FALLBACK = "https://meet.example.com/coaching-"
SELLERS = [f"s{i}" for i in range(1, 5)]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph([f"{p}@example.com" for p in ["boss", *SELLERS]]).start()
    try:
        yield server
    finally:
        server.stop()


def outlook_runtime(tmp_path: Path, fake: FakeGraph, **options: Any) -> Runtime:
    # On Outlook a person's calendar is their mailbox.
    people = [{**person(p), "calendar": f"{p}@example.com"} for p in ["boss", *SELLERS]]
    path = write_org(
        tmp_path,
        sellers=len(SELLERS),
        policy={"online_meeting": True, "video_url_template": FALLBACK + "{key}"},
        extra={
            "teams": [
                {
                    "id": "t1",
                    "name": "Team One",
                    "connector": "outlook",
                    "manager": people[0],
                    "sellers": people[1:],
                }
            ],
            "connectors": {"local": {"path": "calendars"}, "outlook": fake.options()},
        },
    )
    rt = Runtime.open(load_settings(path))
    # The fake is reached through its loopback transport, which config cannot name.
    rt._connectors["outlook"] = connect(fake, tmp_path, **options)
    return rt


def invitations(fake: FakeGraph, seller: str) -> list[dict[str, Any]]:
    with fake.lock:
        return [
            m for m in fake.state.sent.get(f"{seller}@example.com", []) if m["kind"] == "invitation"
        ]


def test_the_teams_link_is_the_one_link_in_agenda_file_and_store(
    tmp_path: Path, fake: FakeGraph
) -> None:
    rt = outlook_runtime(tmp_path, fake)
    try:
        summary = book_month(rt, MONTH, NOW)
        records = rt.store.sessions(month=MONTH)
    finally:
        rt.close()
    assert summary.created == len(SELLERS) and not summary.failed
    for rec in records:
        (made,) = fake.by_key(rec.key)
        assert made.join_url and rec.video_url == made.join_url
        seller = rt.person(rec.seller_id)
        assert seller is not None
        (invitation,) = invitations(fake, rec.seller_id)
        agenda = next(a for a in made.attachments if a["name"].startswith("coaching-agenda"))
        file_text = base64.b64decode(agenda["contentBytes"]).decode()
        for text in (invitation["body"], file_text):
            assert made.join_url in text
            assert FALLBACK not in text and "coachpass.invalid" not in text


def test_book_counts_only_whole_invitations_and_the_next_book_finishes(
    tmp_path: Path, fake: FakeGraph
) -> None:
    rt = outlook_runtime(tmp_path, fake, max_attempts=2)
    conn = rt._connectors["outlook"]
    real_create = conn.create

    def create_under_faults(events: Sequence[NewEvent]) -> list[Result]:
        # Faults only while creating: planning reads free/busy undisturbed.
        fake.faults.rate, fake.faults.kinds, fake.faults.seed = 0.5, ("503", "reset"), 4
        try:
            return real_create(events)
        finally:
            fake.faults.rate = 0.0

    conn.create = create_under_faults  # type: ignore[method-assign]
    try:
        first = book_month(rt, MONTH, NOW)
        booked = [r for r in rt.store.sessions(month=MONTH) if r.state is SessionState.BOOKED]
        assert first.failed, "the faults left something undone, and book must say so"
        assert first.created + first.adopted == len(booked)
        for rec in rt.store.sessions(month=MONTH):
            (made,) = fake.by_key(rec.key) or [None]
            whole = made is not None and len(made.attachments) == 2 and bool(made.attendees)
            assert whole == (rec.state is SessionState.BOOKED), rec
        conn.create = real_create  # type: ignore[method-assign]
        second = book_month(rt, MONTH, NOW)
        records = rt.store.sessions(month=MONTH)
    finally:
        rt.close()
    assert not second.failed
    assert {r.state for r in records} == {SessionState.BOOKED}
    for seller in SELLERS:
        (invitation,) = invitations(fake, seller)
        assert sorted(invitation["attachments"]) == [
            f"coaching-agenda-{MONTH}.html",
            "coaching-guidelines.html",
        ]
