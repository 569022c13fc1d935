"""Incremental sync of an organiser's calendar: showDeleted on both reads, so Google
keeps the details of cancelled events and a cancellation costs no extra request."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connectors.google.test_fake import BOSS, EVENT, Api
from tests.contract.suite import WINDOW_END, WINDOW_START, at, session
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    GoogleHarness,
    fake,
    google_fake,
    google_harness,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle


def test_both_reads_ask_for_deleted_events(google_harness: GoogleHarness, fake: FakeGoogle) -> None:
    """Google: a sync token's parameters must stay those of the first read, and
    showDeleted=false is not allowed with one."""
    h = google_harness
    h.connector.create([session(h, "seller1", at(11, 9))])
    fake.reset_stats()
    cursor = h.connector.changes(h.ref("manager"), None, WINDOW_START, WINDOW_END).cursor
    h.connector.changes(h.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    reads = list(fake.api_calls(kind="GET /calendar/v3/calendars/"))
    assert reads and all(c.params.get("showDeleted") == ["true"] for c in reads)
    assert "syncToken" in reads[-1].params


def test_a_cancellation_is_read_from_the_sync_answer_alone(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    kept, dropped = session(h, "seller1", at(11, 9)), session(h, "seller2", at(12, 9))
    h.connector.create([kept, dropped])
    cursor = h.connector.changes(h.ref("manager"), None, WINDOW_START, WINDOW_END).cursor
    h.cancel_in_calendar(dropped.key)
    fake.reset_stats()
    answer = h.connector.changes(h.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert [(e.key, e.cancelled) for e in answer.events] == [(dropped.key, True)]
    assert fake.stats["api"] == 1  # no events.get for the cancelled event


def test_someone_elses_cancelled_meeting_is_not_fetched(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    cursor = h.connector.changes(h.ref("manager"), None, WINDOW_START, WINDOW_END).cursor
    other = fake.store.put(
        h.manager,
        {
            "summary": "Team lunch",
            "start": {"dateTime": at(13, 12).isoformat()},
            "end": {"dateTime": at(13, 13).isoformat()},
        },
    )
    fake.store.delete(h.manager, other["id"])
    fake.reset_stats()
    answer = h.connector.changes(h.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert answer.events == () and answer.removed == ()
    assert fake.stats["api"] == 1  # details came with the sync: no tag, not ours


def test_a_deleted_event_reduced_to_its_id_is_still_read_back(
    google_harness: GoogleHarness, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google only promises the id of a deleted event: when the details are missing
    the connector reads the event to learn whether it was ours."""
    h = google_harness
    event = session(h, "seller1", at(11, 9))
    h.connector.create([event])
    cursor = h.connector.changes(h.ref("manager"), None, WINDOW_START, WINDOW_END).cursor
    h.cancel_in_calendar(event.key)
    monkeypatch.setattr(fake.store, "keep_cancelled_details", False)
    fake.reset_stats()
    answer = h.connector.changes(h.ref("manager"), cursor, WINDOW_START, WINDOW_END)
    assert [(e.key, e.cancelled) for e in answer.events] == [(event.key, True)]
    (read,) = [c for c in fake.api_calls(kind="GET ") if c.path.endswith(f"/events/{event.key}")]
    assert read.in_batch


# --- the fake keeps Google's rules ------------------------------------------------------


@pytest.fixture
def api(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> Api:
    fake.add_user(BOSS)
    return Api(fake, google_key_file, tmp_path)


def test_sync_token_with_show_deleted_false_is_400(api: Api) -> None:
    token = api.run(api.events.list(calendarId=BOSS, showDeleted=True))["nextSyncToken"]
    refused = api.events.list(calendarId=BOSS, syncToken=token, showDeleted=False)
    assert api.status(refused)[0] == 400
    assert "items" in api.run(api.events.list(calendarId=BOSS, syncToken=token, showDeleted=True))


def test_cancelled_events_keep_details_on_the_organisers_calendar_with_show_deleted(
    api: Api,
) -> None:
    api.run(api.events.insert(calendarId=BOSS, body={**EVENT, "id": "abcde12345"}))
    token = api.run(api.events.list(calendarId=BOSS, showDeleted=True))["nextSyncToken"]
    api.run(api.events.delete(calendarId=BOSS, eventId="abcde12345"))
    (item,) = api.run(api.events.list(calendarId=BOSS, syncToken=token, showDeleted=True))["items"]
    assert item["status"] == "cancelled" and item["start"] == EVENT["start"]
    # Without showDeleted the same change comes reduced to id and status.
    (bare,) = api.run(api.events.list(calendarId=BOSS, syncToken=token))["items"]
    assert bare["status"] == "cancelled" and "start" not in bare
    # The full read with showDeleted keeps them too; without, they are left out.
    (full,) = api.run(api.events.list(calendarId=BOSS, showDeleted=True))["items"]
    assert full["start"] == EVENT["start"]
    assert api.run(api.events.list(calendarId=BOSS))["items"] == []


def test_cancelled_invitations_of_other_organisers_are_reduced(api: Api, fake: FakeGoogle) -> None:
    """Only the organiser's calendar keeps the details of a cancelled event."""
    fake.store.put(
        BOSS, {**EVENT, "id": "fghij12345", "organizer": {"email": "someone@example.com"}}
    )
    token = api.run(api.events.list(calendarId=BOSS, showDeleted=True))["nextSyncToken"]
    fake.store.delete(BOSS, "fghij12345")
    (item,) = api.run(api.events.list(calendarId=BOSS, syncToken=token, showDeleted=True))["items"]
    assert item["status"] == "cancelled" and "start" not in item
