"""When Google does not create the Meet link (pending or failure), the invite carries
the fallback link, and Result.video_url is the link really in the invite."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from dataclasses import replace
from typing import Any

from connectors.base import LINK_MARK, NewEvent, Outcome
from connectors.google.meet import MEET_READS
from tests.contract.suite import at, session
from tests.fakes.google_faults import Fault
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    GoogleHarness,
    fake,
    google_fake,
    google_harness,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle

FALLBACK = "https://video.example.com/room/coaching"  # the suite's NewEvent.video_url


def calls(fake: FakeGoogle, method: str) -> list[Any]:
    return [c for c in fake.api_calls(kind=f"{method} /calendar/v3/calendars/") if c.in_batch]


def in_invite(event: dict[str, Any], url: str) -> bool:
    return url in event.get("description", "") or url in event.get("location", "")


def test_meet_failure_puts_the_fallback_in_the_invite(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    fake.store.meet_outcome = "failure"
    event = session(h, "seller1", at(11, 9))
    assert event.video_url == FALLBACK and event.online_meeting
    fake.reset_stats()
    (result,) = h.connector.create([event])
    stored = fake.store.get(h.manager, event.key)
    assert result.outcome is Outcome.CREATED and result.video_url == FALLBACK
    assert "hangoutLink" not in stored
    assert FALLBACK in stored["description"] and stored["location"] == FALLBACK
    (patch,) = calls(fake, "PATCH")
    assert patch.params["sendUpdates"] == ["all"]  # the attendees get the link too
    assert fake.stats["api"] == 2  # the insert batch, then the patch batch


def test_meet_failure_without_a_fallback_reports_no_link(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    fake.store.meet_outcome = "failure"
    event = replace(session(h, "seller1", at(11, 9)), video_url=None)
    fake.reset_stats()
    (result,) = h.connector.create([event])
    assert result.outcome is Outcome.CREATED and result.video_url is None
    assert calls(fake, "PATCH") == [] and fake.stats["api"] == 1


def test_pending_meet_ready_on_the_second_read_is_the_link(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    fake.store.meet_outcome = "pending"
    fake.store.meet_ready_after_reads = 1
    event = session(h, "seller1", at(11, 9))
    fake.reset_stats()
    (result,) = h.connector.create([event])
    stored = fake.store.get(h.manager, event.key)
    assert result.video_url is not None and result.video_url == stored["hangoutLink"]
    assert not in_invite(stored, FALLBACK)  # one link in the invite, not two
    assert len(calls(fake, "GET")) == 1 and calls(fake, "PATCH") == []
    assert len(h.sleep.delays) == 1  # a moment for Google to generate the link


def test_meet_still_pending_after_bounded_reads_is_retryable_without_a_fallback(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    """A Meet link may still come: no fallback goes in (two links, two rooms); the
    session is not booked yet, so the next run reads it again."""
    h = google_harness
    fake.store.meet_outcome = "pending"  # never ready
    events = [session(h, "seller1", at(11, 9)), session(h, "seller2", at(11, 14))]
    fake.reset_stats()
    results = h.connector.create(events)
    assert [r.outcome for r in results] == [Outcome.FAILED] * 2
    assert all(r.retryable and r.video_url is None for r in results)
    assert all("still generating the Meet link" in (r.error or "") for r in results)
    for event in events:
        assert not in_invite(fake.store.get(h.manager, event.key), FALLBACK)
    assert len(calls(fake, "GET")) == 2 * MEET_READS and calls(fake, "PATCH") == []
    assert fake.stats["api"] == 1 + MEET_READS  # insert, then one batch per read
    assert len(h.sleep.delays) == MEET_READS


def test_meet_pending_settles_on_the_next_run_and_its_link_is_the_one(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    fake.store.meet_outcome = "pending"
    fake.store.meet_ready_after_reads = MEET_READS + 1  # ready only on the next run
    event = session(h, "seller1", at(11, 9))
    (first,) = h.connector.create([event])
    assert first.outcome is Outcome.FAILED and first.retryable
    (again,) = h.connector.create([event])  # 409, adopted: read once more
    stored = fake.store.get(h.manager, event.key)
    assert again.outcome is Outcome.EXISTED
    assert again.video_url is not None and again.video_url == stored["hangoutLink"]
    assert not in_invite(stored, FALLBACK)


MARKED = f'<p>Video: <a href="{LINK_MARK}">{LINK_MARK}</a></p><p>Agenda</p>'
IN_INVITE = "use the meeting link in this invitation"


def marked(h: GoogleHarness) -> NewEvent:
    base = session(h, "seller1", at(11, 9))
    return replace(base, description_html=MARKED, link_mark=LINK_MARK, no_link_text=IN_INVITE)


def test_with_meet_the_agenda_points_to_it_and_never_to_the_fallback(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    event = marked(h)
    fake.reset_stats()
    (result,) = h.connector.create([event])
    stored = fake.store.get(h.manager, event.key)
    assert result.video_url == stored["hangoutLink"]
    assert IN_INVITE in stored["description"]
    assert not in_invite(stored, FALLBACK) and LINK_MARK not in stored["description"]
    assert fake.stats["api"] == 1  # Google shows the Meet link itself: no request more


def test_without_meet_the_fallback_takes_the_marks_place_once(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    fake.store.meet_outcome = "failure"
    event = marked(h)
    (result,) = h.connector.create([event])
    stored = fake.store.get(h.manager, event.key)
    assert result.video_url == FALLBACK
    assert stored["description"].count(f'href="{FALLBACK}"') == 1
    assert LINK_MARK not in stored["description"] and IN_INVITE not in stored["description"]


def test_meet_success_costs_nothing_more(google_harness: GoogleHarness, fake: FakeGoogle) -> None:
    h = google_harness
    event = session(h, "seller1", at(11, 9))
    fake.reset_stats()
    (result,) = h.connector.create([event])
    stored = fake.store.get(h.manager, event.key)
    assert result.video_url == stored["hangoutLink"] and fake.stats["api"] == 1


def test_a_fallback_already_in_the_agenda_is_not_added_again(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    fake.store.meet_outcome = "failure"
    base = session(h, "seller1", at(11, 9))
    event = replace(
        base, description_html=base.description_html + f'<p><a href="{FALLBACK}">Video</a></p>'
    )
    (result,) = h.connector.create([event])
    assert result.video_url == FALLBACK and calls(fake, "PATCH") == []


def test_without_online_meeting_the_fallback_in_the_body_is_the_link(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    event = replace(session(h, "seller1", at(11, 9)), online_meeting=False)
    (result,) = h.connector.create([event])
    stored = fake.store.get(h.manager, event.key)
    assert result.video_url == FALLBACK and in_invite(stored, FALLBACK)
    assert "conferenceData" not in stored


def test_a_failed_patch_reports_no_link_and_a_repeat_adds_it(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    """If the fallback cannot be added the result says there is no link (and why);
    booking the same session again adopts the event and adds the fallback then."""
    h = google_harness
    fake.store.meet_outcome = "failure"
    event = session(h, "seller1", at(11, 9))
    fake.faults.fail_next(Fault(400, "invalid", "Invalid value"), match="PATCH")
    (first,) = h.connector.create([event])
    assert first.outcome is Outcome.CREATED and first.video_url is None
    assert "fallback" in (first.error or "") and "manager@example.com" in (first.error or "")
    assert not in_invite(fake.store.get(h.manager, event.key), FALLBACK)
    (again,) = h.connector.create([event])
    assert again.outcome is Outcome.EXISTED and again.video_url == FALLBACK
    assert in_invite(fake.store.get(h.manager, event.key), FALLBACK)
    fake.reset_stats()
    (third,) = h.connector.create([event])  # the link is there now: nothing to patch
    assert third.video_url == FALLBACK and calls(fake, "PATCH") == []


def test_an_adopted_cancelled_event_is_left_alone(
    google_harness: GoogleHarness, fake: FakeGoogle
) -> None:
    h = google_harness
    fake.store.meet_outcome = "failure"
    event = replace(session(h, "seller1", at(11, 9)), video_url=None)
    h.connector.create([event])
    h.cancel_in_calendar(event.key)
    fake.reset_stats()
    (adopted,) = h.connector.create([replace(event, video_url=FALLBACK)])
    assert adopted.outcome is Outcome.EXISTED and adopted.video_url is None
    assert calls(fake, "PATCH") == []
