"""`policy.agenda_file: false` through the real booking path, on every back end where
files go on the event: the local folder and CalDAV (iCalendar ATTACH) and Outlook
(fileAttachment, which also decides how a session is created and invited). Google
takes no files (only the guidelines' Drive link), so it has nothing to test here.

With files off, the invite still carries the whole agenda in its description and
the guideline link; there is no file, and on Outlook the event is created with its
attendees in one request part: no attachment upload, no inviting PATCH, and the
agenda points to the Teams link that Outlook shows in the invitation itself.
"""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest

from connectors.base import LINK_MARK
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.contract.test_caldav import (  # noqa: F401  (fixtures)
    PASSWORD_ENV,
    SERVICE_USER,
    CaldavHarness,
    harness,
    radicale,
)
from tests.fakes.graph_client import SECRET_ENV, connect
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph
from tests.orgs import person, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
GUIDE = "https://intranet.example.com/coaching"
FALLBACK = "https://meet.example.com/coaching-"
NO_LINK = "use the meeting link in this invitation"  # en agenda_video_in_invite
ORG = {
    "id": "acme",
    "name": "Acme",
    "timezone": "Europe/Stockholm",
    "country": "SE",
    "language": "en",
    "guideline_url": GUIDE,
}


def _attaches(vevent: icalendar.Event) -> list[Any]:
    found = vevent.get("ATTACH")
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def _check_ics_event(vevent: icalendar.Event) -> None:
    """No file: the only ATTACH is the guideline link; the agenda is the description."""
    attaches = _attaches(vevent)
    assert [str(a) for a in attaches] == [GUIDE]
    assert all(a.params.get("VALUE") == "URI" for a in attaches)
    description = str(vevent.get("DESCRIPTION"))
    assert "focus theme" in description and GUIDE in description


@pytest.mark.parametrize("agenda_file", [True, False])
def test_local_events_carry_the_agenda_file_only_when_the_policy_says(
    tmp_path: Path, agenda_file: bool
) -> None:
    path = write_org(
        tmp_path,
        sellers=2,
        policy={"agenda_file": agenda_file},
        extra={"organisation": ORG},
    )
    rt = Runtime.open(load_settings(path))
    try:
        summary = book_month(rt, MONTH, NOW)
    finally:
        rt.close()
    assert summary.created == 2 and not summary.failures()
    # The organiser's events, the sellers' copies and their iTIP invitations alike.
    texts = [(tmp_path / "calendars" / f"{p}.ics").read_bytes() for p in ("boss", "s1", "s2")]
    for eml in sorted((tmp_path / "outbox").glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes())
        texts += [
            part.get_payload(decode=True)
            for part in message.walk()
            if part.get_content_type() == "text/calendar"
        ]
    assert len(texts) == 5
    events = [v for text in texts for v in icalendar.Calendar.from_ical(text).walk("VEVENT")]
    assert len(events) == 2 + 2 + 2
    for vevent in events:
        if agenda_file:  # as before: the link and the agenda file
            names = [a.params.get("X-FILENAME") for a in _attaches(vevent)]
            assert names == [None, f"coaching-agenda-{MONTH}.html"]
        else:
            _check_ics_event(vevent)


def test_caldav_events_carry_no_agenda_file_when_the_policy_says_so(
    harness: CaldavHarness, radicale: Any, tmp_path: Path
) -> None:
    people = [
        {**person(p), "email": f"{p}@example.com", "calendar": harness.calendar_path(p)[1:]}
        for p in ("manager", "seller1", "seller2")
    ]
    path = write_org(
        tmp_path,
        policy={"agenda_file": False},
        extra={
            "organisation": ORG,
            "defaults": {"connector": "caldav"},
            "teams": [{"id": "t1", "name": "T", "manager": people[0], "sellers": people[1:]}],
            "connectors": {
                "caldav": {
                    "url": radicale.url,
                    "username": SERVICE_USER,
                    "password_env": PASSWORD_ENV,
                }
            },
        },
    )
    rt = Runtime.open(load_settings(path))
    try:
        summary = book_month(rt, MONTH, NOW)
    finally:
        rt.close()
    assert summary.created == 2 and not summary.failures()
    vevents = [v for _h, _e, cal in harness.items("manager") for v in cal.walk("VEVENT")]
    assert len(vevents) == 2
    for vevent in vevents:
        _check_ics_event(vevent)


# -- Outlook ------------------------------------------------------------------------------

SELLERS = [f"s{i}" for i in range(1, 5)]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph([f"{p}@example.com" for p in ["boss", *SELLERS]]).start()
    try:
        yield server
    finally:
        server.stop()


def _outlook_runtime(tmp_path: Path, fake: FakeGraph, agenda_file: bool) -> Runtime:
    people = [{**person(p), "calendar": f"{p}@example.com"} for p in ["boss", *SELLERS]]
    path = write_org(
        tmp_path,
        policy={
            "agenda_file": agenda_file,
            "online_meeting": True,
            "video_url_template": FALLBACK + "{key}",
        },
        extra={
            "organisation": ORG,
            "defaults": {"connector": "outlook"},
            "teams": [{"id": "t1", "name": "T", "manager": people[0], "sellers": people[1:]}],
            "connectors": {"outlook": fake.options()},
        },
    )
    rt = Runtime.open(load_settings(path))
    # The fake is reached through its loopback transport, which config cannot name.
    rt._connectors["outlook"] = connect(fake, tmp_path)
    return rt


def _parts(fake: FakeGraph) -> list[tuple[str, str]]:
    """(method, path) of every request Graph ran: plain requests and `$batch` parts."""
    with fake.lock:
        out = []
        for method, url, _headers in fake.log:
            path = url.split("?")[0].removeprefix("/v1.0")  # parts are relative
            if method.startswith("part "):
                out.append((method.removeprefix("part "), path))
            elif not path.endswith("/$batch"):
                out.append((method, path))
        return out


def test_outlook_without_files_creates_each_session_with_its_attendees_in_one_part(
    tmp_path: Path, fake: FakeGraph
) -> None:
    rt = _outlook_runtime(tmp_path, fake, agenda_file=False)
    try:
        with fake.lock:
            fake.log.clear()
        summary = book_month(rt, MONTH, NOW)
        records = rt.store.sessions(month=MONTH)
    finally:
        rt.close()
    assert summary.created == len(SELLERS) and not summary.failures()
    creates = [p for p in _parts(fake) if not p[1].endswith("/calendar/getSchedule")]
    # One POST per session: no look-up (a first send), no file, no inviting PATCH.
    assert creates == [("POST", "/users/boss@example.com/events")] * len(SELLERS)
    for rec in records:
        assert rec.state is SessionState.BOOKED
        (made,) = fake.by_key(rec.key)
        assert made.attachments == []
        assert made.join_url and rec.video_url == made.join_url  # the link the invite has
        seller = f"{rec.seller_id}@example.com"
        with fake.lock:
            (invitation,) = fake.state.sent[seller]
        assert invitation["kind"] == "invitation" and invitation["attachments"] == []
        # Created with the invitation, before Graph made the Teams meeting: the agenda
        # points to the link Outlook shows in the invitation, never the fallback.
        body = invitation["body"]
        assert NO_LINK in body and GUIDE in body and "focus theme" in body
        assert LINK_MARK not in body and FALLBACK not in body


def test_outlook_with_files_still_invites_once_the_file_is_on(
    tmp_path: Path, fake: FakeGraph
) -> None:
    rt = _outlook_runtime(tmp_path, fake, agenda_file=True)
    try:
        with fake.lock:
            fake.log.clear()
        summary = book_month(rt, MONTH, NOW)
    finally:
        rt.close()
    assert summary.created == len(SELLERS) and not summary.failures()
    methods = [m for m, p in _parts(fake) if not p.endswith("/calendar/getSchedule")]
    # create, the agenda file (the guidelines are linked), the inviting PATCH
    assert sorted(methods) == sorted(["POST", "POST", "PATCH"] * len(SELLERS))
    for seller in SELLERS:
        with fake.lock:
            (invitation,) = fake.state.sent[f"{seller}@example.com"]
        assert invitation["attachments"] == [f"coaching-agenda-{MONTH}.html"]
        assert invitation["join_url"] and invitation["join_url"] in invitation["body"]
