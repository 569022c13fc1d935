"""What Outlook attendees are sent: one invitation, carrying the agenda file and a
video link that works (Teams, or the fallback when Graph made no Teams meeting).

The fake records what each attendee receives (`state.sent`): the meeting as it stood
when they were added, and an update each time the organiser changed it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Attachment, Attendee, NewEvent, Outcome
from connectors.outlook.events import event_body
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

UTC = dt.UTC
MANAGER = "manager@example.com"
SELLER = "seller1@example.com"
AGENDA = Attachment("agenda.html", "text/html", b"<h1>Agenda</h1>")
FALLBACK = "https://video.example.com/r/1"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph([MANAGER, SELLER, "seller2@example.com"]).start()
    try:
        yield server
    finally:
        server.stop()


def session(**kw: Any) -> NewEvent:
    start = dt.datetime(2031, 3, 11, 9, tzinfo=UTC)
    fields: dict[str, Any] = {
        "key": "cp" + uuid.uuid4().hex,
        "organizer": ref(MANAGER),
        "attendees": (Attendee(SELLER, "Seller"),),
        "start": start,
        "end": start + dt.timedelta(minutes=45),
        "summary": "Coaching",
        "description_text": "Agenda",
        "attachments": (AGENDA,),
    }
    fields.update(kw)
    return NewEvent(**fields)


def sent(fake: FakeGraph, email: str = SELLER) -> list[dict[str, Any]]:
    with fake.lock:
        return list(fake.state.sent.get(email, []))


def test_seller_gets_one_invitation_carrying_the_agenda(fake: FakeGraph, tmp_path: Path) -> None:
    event = session()
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.CREATED
    (made,) = fake.by_key(event.key)
    (invitation,) = sent(fake)
    assert invitation["kind"] == "invitation" and invitation["event_id"] == made.id
    assert invitation["attachments"] == ["agenda.html"]
    assert invitation["join_url"] == made.join_url == result.video_url


def test_without_a_file_the_event_is_created_with_its_attendees(
    fake: FakeGraph, tmp_path: Path
) -> None:
    conn = connect(fake, tmp_path)
    try:
        conn.create([session(attachments=())])
    finally:
        conn.close()
    (invitation,) = sent(fake)
    assert invitation["kind"] == "invitation"
    # look-up and create only: no PATCH when nothing has to wait for a file
    assert [m for m, _p, _h in fake.log] == ["GET", "POST"]


def test_lost_create_answer_is_adopted_and_finished(fake: FakeGraph, tmp_path: Path) -> None:
    event = session()
    conn = connect(fake, tmp_path)
    fake.faults.queue = ["none", "reset"]  # the create runs, its answer is lost
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.CREATED
    (made,) = fake.by_key(event.key, include_deleted=True)
    assert [a["emailAddress"]["address"] for a in made.attendees] == [SELLER]
    (invitation,) = sent(fake)
    assert invitation["attachments"] == ["agenda.html"]


def test_event_left_without_attendees_by_an_earlier_run_is_finished(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = session()
    with fake.lock:  # a crash after the create, before the file and the attendees
        fake.state.create(MANAGER, event_body(event, "teamsForBusiness", invite=False))
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.EXISTED
    (invitation,) = sent(fake)
    assert invitation["attachments"] == ["agenda.html"]


def test_failed_attendee_patch_is_retryable_and_the_next_run_finishes(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = session()
    conn = connect(fake, tmp_path, max_attempts=2)
    # look-up, create, attachment, then the attendee PATCH fails, the event is read
    # (no attendees yet), and the PATCH fails again: out of attempts
    fake.faults.queue = ["none", "none", "none", "503", "none", "503"]
    try:
        (first,) = conn.create([event])
        assert sent(fake) == []
        (second,) = conn.create([event])
    finally:
        conn.close()
    assert first.outcome is Outcome.FAILED and first.retryable
    assert "inviting the attendees" in (first.error or "")
    assert second.outcome is Outcome.EXISTED
    assert len(fake.by_key(event.key, include_deleted=True)) == 1
    (invitation,) = sent(fake)
    assert invitation["attachments"] == ["agenda.html"]


def test_invited_event_missing_its_file_sends_it_in_an_update(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = session()
    conn = connect(fake, tmp_path)
    try:
        conn.create([dataclasses.replace(event, attachments=())])  # an old booking
        (again,) = conn.create([event])
    finally:
        conn.close()
    assert again.outcome is Outcome.EXISTED
    invitation, update = sent(fake)
    assert invitation["attachments"] == [] and update["kind"] == "update"
    assert update["attachments"] == ["agenda.html"]


# -- the video link -------------------------------------------------------------------------


@pytest.mark.parametrize("attachments", [(AGENDA,), ()], ids=["with file", "without file"])
def test_teams_not_allowed_puts_the_fallback_link_in_the_invite(
    fake: FakeGraph, tmp_path: Path, attachments: tuple[Attachment, ...]
) -> None:
    fake.state.teams_allowed = False
    event = session(video_url=FALLBACK, attachments=attachments)
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    (made,) = fake.by_key(event.key)
    assert made.join_url is None
    assert result.ok and result.video_url == FALLBACK
    last = sent(fake)[-1]  # what the seller's calendar shows now
    assert FALLBACK in last["body"] and last["location"] == FALLBACK
    if attachments:  # the link rides in the one invitation with the file
        (invitation,) = sent(fake)
        assert invitation["attachments"] == ["agenda.html"]


def test_teams_not_allowed_without_a_fallback_records_no_link(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.state.teams_allowed = False
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([session(video_url=None)])
    finally:
        conn.close()
    assert result.ok and result.video_url is None


def test_adopted_event_with_the_fallback_already_in_it_is_not_patched_again(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.state.teams_allowed = False
    event = session(video_url=FALLBACK)
    conn = connect(fake, tmp_path)
    try:
        conn.create([event])
        before = len(fake.log)
        (again,) = conn.create([event])
    finally:
        conn.close()
    assert again.outcome is Outcome.EXISTED and again.video_url == FALLBACK
    assert [m for m, _p, _h in fake.log[before:]] == ["GET"]
    assert len(sent(fake)) == 1


def test_a_first_send_skips_the_look_up(fake: FakeGraph, tmp_path: Path) -> None:
    """The caller's store shows no create was ever sent for this key: no tag look-up."""
    event = session(attachments=(), may_exist=False)
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.CREATED
    assert [m for m, _p, _h in fake.log] == ["POST"]


def test_a_first_send_whose_answer_is_lost_is_looked_up_before_retrying(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = session(may_exist=False)
    conn = connect(fake, tmp_path)
    fake.faults.queue = ["reset"]  # the create runs, its answer is lost
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.ok
    assert len(fake.by_key(event.key, include_deleted=True)) == 1, "never a second event"
    (invitation,) = sent(fake)
    assert invitation["attachments"] == ["agenda.html"]
