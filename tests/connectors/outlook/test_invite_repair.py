"""Outlook invitations carry the agenda file exactly once, and only after it is on.

- an upload whose answer was lost is never resent blindly: the event's attachments
  are listed and only a missing file goes again;
- a failed upload leaves the attendees uninvited and the session a retryable
  failure; the next run finds the event by its tag and finishes it;
- under heavy faults every seller ends with one invitation carrying the file once,
  and every session `create` calls ok really is complete (honest counts).

The fake records what each attendee is sent (`state.sent`) and the files on events.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import LINK_MARK, Attachment, Attendee, NewEvent, Outcome, Result
from connectors.outlook.connector import OutlookConnector
from connectors.outlook.events import event_body
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

MANAGERS = [f"m{m}@example.com" for m in range(3)]
SELLERS = {m: [f"s{m}-{s}@example.com" for s in range(8)] for m in range(3)}
ALL = MANAGERS + [s for team in SELLERS.values() for s in team]
AGENDA = Attachment("agenda.html", "text/html", b"<h1>Agenda</h1>")
FALLBACK = "https://meet.example.com/coaching-1"
IN_INVITE = "use the meeting link in this invitation"
MARKED_HTML = f'<p>Video: <a href="{LINK_MARK}">{LINK_MARK}</a></p>'


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph(ALL).start()
    try:
        yield server
    finally:
        server.stop()


def session(manager: int = 0, n: int = 0, **kw: Any) -> NewEvent:
    start = dt.datetime(2031, 3, 3 + n // 4, 8 + 2 * (n % 4), tzinfo=dt.UTC)
    fields: dict[str, Any] = {
        "key": "cp" + uuid.uuid4().hex,
        "organizer": ref(MANAGERS[manager]),
        "attendees": (Attendee(SELLERS[manager][n]),),
        "start": start,
        "end": start + dt.timedelta(minutes=45),
        "summary": "Coaching",
        "description_text": "Agenda",
        "attachments": (AGENDA,),
    }
    fields.update(kw)
    return NewEvent(**fields)


def sent(fake: FakeGraph, email: str) -> list[dict[str, Any]]:
    with fake.lock:
        return list(fake.state.sent.get(email, []))


def files_on(fake: FakeGraph, key: str) -> list[str]:
    (made,) = fake.by_key(key)
    return [a["name"] for a in made.attachments]


def file_text(fake: FakeGraph, key: str) -> str:
    (made,) = fake.by_key(key)
    (att,) = made.attachments
    return base64.b64decode(att["contentBytes"]).decode()


def methods(fake: FakeGraph, since: int = 0) -> list[str]:
    return [m for m, _p, _h in fake.log[since:]]


def test_a_lost_upload_answer_is_listed_not_sent_twice(fake: FakeGraph, tmp_path: Path) -> None:
    event = session()
    conn = connect(fake, tmp_path)
    fake.faults.queue = ["none", "none", "reset"]  # look-up, create, then the upload is lost
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.CREATED
    assert methods(fake) == ["GET", "POST", "POST", "GET", "PATCH"]  # listed, not resent
    assert files_on(fake, event.key) == ["agenda.html"]
    (invitation,) = sent(fake, SELLERS[0][0])
    assert invitation["attachments"] == ["agenda.html"]


def test_a_failed_upload_sends_no_invitation_and_the_next_run_finishes(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = session()
    conn = connect(fake, tmp_path, max_attempts=2)
    # look-up, create, upload 503, listing (empty), upload 503 again: out of attempts
    fake.faults.queue = ["none", "none", "503", "none", "503"]
    try:
        (first,) = conn.create([event])
        assert sent(fake, SELLERS[0][0]) == [], "no invitation without its file"
        (second,) = conn.create([event])
    finally:
        conn.close()
    assert first.outcome is Outcome.FAILED and first.retryable
    assert "attaching the agenda file" in (first.error or "")
    assert MANAGERS[0] in (first.error or "")
    assert second.outcome is Outcome.EXISTED
    assert len(fake.by_key(event.key, include_deleted=True)) == 1
    assert files_on(fake, event.key) == ["agenda.html"]
    (invitation,) = sent(fake, SELLERS[0][0])
    assert invitation["attachments"] == ["agenda.html"]


def test_a_lost_invitation_answer_is_read_back_not_sent_twice(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = session()
    conn = connect(fake, tmp_path)
    fake.faults.queue = ["none", "none", "none", "reset"]  # the PATCH runs, its answer is lost
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.CREATED
    assert methods(fake) == ["GET", "POST", "POST", "PATCH", "GET"]  # read back, not resent
    assert sent(fake, SELLERS[0][0])[0]["kind"] == "invitation"
    assert len(sent(fake, SELLERS[0][0])) == 1, "no update from a repeated PATCH"


def test_half_done_event_with_its_file_is_invited_without_a_second_copy(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = session()
    with fake.lock:  # an earlier run died after the upload, before the attendee PATCH
        made = fake.state.create(MANAGERS[0], event_body(event, "teamsForBusiness", invite=False))
        fake.state.add_attachment(
            MANAGERS[0],
            made.id,
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "agenda.html",
                "contentType": "text/html",
                "contentBytes": base64.b64encode(AGENDA.data).decode(),
            },
        )
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.outcome is Outcome.EXISTED
    assert methods(fake) == ["GET", "GET", "PATCH"]  # look-up, listing, invitation
    assert files_on(fake, event.key) == ["agenda.html"]
    (invitation,) = sent(fake, SELLERS[0][0])
    assert invitation["attachments"] == ["agenda.html"]


# -- one meeting link -------------------------------------------------------------------


def marked(**kw: Any) -> NewEvent:
    agenda = Attachment("agenda.html", "text/html", MARKED_HTML.encode())
    return session(
        description_html=MARKED_HTML,
        attachments=(agenda,),
        video_url=FALLBACK,
        link_mark=LINK_MARK,
        no_link_text=IN_INVITE,
        may_exist=False,
        **kw,
    )


def test_the_teams_link_fills_the_agenda_and_its_file_never_the_fallback(
    fake: FakeGraph, tmp_path: Path
) -> None:
    event = marked()
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    (made,) = fake.by_key(event.key)
    assert made.join_url and result.video_url == made.join_url
    (invitation,) = sent(fake, SELLERS[0][0])
    for text in (invitation["body"], file_text(fake, event.key)):
        assert f'href="{made.join_url}"' in text
        assert FALLBACK not in text and LINK_MARK not in text and IN_INVITE not in text
    assert methods(fake) == ["POST", "POST", "PATCH"]  # no request spent on the link


def test_without_teams_the_fallback_fills_the_agenda_and_its_file(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.state.teams_allowed = False
    event = marked()
    conn = connect(fake, tmp_path)
    try:
        (result,) = conn.create([event])
    finally:
        conn.close()
    assert result.video_url == FALLBACK
    (invitation,) = sent(fake, SELLERS[0][0])
    for text in (invitation["body"], file_text(fake, event.key)):
        assert text.count(f'href="{FALLBACK}"') == 1 and LINK_MARK not in text
    assert invitation["location"] == FALLBACK


# -- heavy faults -----------------------------------------------------------------------


def complete(fake: FakeGraph, event: NewEvent) -> bool:
    """The session's invitation is whole: one event, the seller on it, the file once."""
    made = fake.by_key(event.key, include_deleted=True)
    if len(made) != 1:
        return False
    on_it = [a["emailAddress"]["address"] for a in made[0].attendees]
    return on_it == [event.attendees[0].email] and files_on(fake, event.key) == ["agenda.html"]


def test_heavy_faults_end_in_one_invitation_each_with_the_file_once(
    fake: FakeGraph, tmp_path: Path
) -> None:
    """24 sessions of 3 organisers under 35 % faults (429, 503, lost answers). Each
    run's ok results are checked against the fake: ok means complete, never a count
    that hides a missing file or invitation; the rest are retryable and the next
    run finishes them."""
    events = [session(m, n) for m in range(3) for n in range(8)]
    fake.faults.rate = 0.35
    fake.faults.kinds = ("429", "503", "reset")
    fake.faults.seed = 9
    conn: OutlookConnector = connect(fake, tmp_path, max_attempts=3)
    final: dict[str, Result] = {}
    todo = [dataclasses.replace(e, may_exist=False) for e in events]
    runs = 0
    try:
        while todo and runs < 15:
            runs += 1
            results = conn.create(todo)
            for event, result in zip(todo, results, strict=True):
                if result.ok:
                    assert complete(fake, event), f"run {runs}: ok but not complete"
                else:
                    assert result.retryable, result.error
                final[event.key] = result
            # what booking does: a session not booked is pushed again, looked up first
            todo = [
                dataclasses.replace(e, may_exist=True)
                for e, r in zip(todo, results, strict=True)
                if not r.ok
            ]
    finally:
        conn.close()
    assert not todo, f"still not booked after {runs} runs"
    assert runs > 1 and sum(fake.faults.injected.values()) >= 20, fake.faults.injected
    for m in range(3):
        for seller in SELLERS[m]:
            # one message in all: the invitation, with the file once (no update
            # from a repeated PATCH either)
            (invitation,) = sent(fake, seller)
            assert invitation["kind"] == "invitation"
            assert invitation["attachments"] == ["agenda.html"]
    for event in events:
        assert complete(fake, event)
