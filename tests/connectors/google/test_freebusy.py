"""Per-calendar free/busy errors inside Google's 200 answer: internalError and
backendError are asked again (only those calendars, with backoff); notFound is final."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connectors.base import CalendarRef, ConnectorContext
from connectors.google.connector import GoogleConnector
from connectors.google.wire import temporary_failures
from tests.contract.suite import WINDOW_END, WINDOW_START, at
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    GoogleHarness,
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_harness,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle


def asked(fake: FakeGoogle) -> list[list[str]]:
    """The calendars of each free/busy request, in order."""
    return [[i["id"] for i in c.body["items"]] for c in fake.api_calls(kind="freeBusy")]


@pytest.mark.parametrize("reason", ["backendError", "internalError"])
def test_temporary_errors_are_asked_again_for_those_calendars_only(
    google_harness: GoogleHarness, fake: FakeGoogle, reason: str
) -> None:
    h = google_harness
    h.add_busy("seller1", at(10, 9), at(10, 10))
    seller1 = h.ref("seller1").calendar_id
    fake.store.fail_freebusy(seller1, reason, reason)
    fake.reset_stats()
    answer = h.connector.busy(
        [h.ref("manager"), h.ref("seller1"), h.ref("seller2")], WINDOW_START, WINDOW_END
    )
    assert answer.errors == {}
    (busy,) = answer.intervals["seller1"]
    assert (busy.start, busy.end) == (at(10, 9), at(10, 10))
    first, *again = asked(fake)
    assert len(first) == 3 and again == [[seller1], [seller1]]
    assert len(h.sleep.delays) == 2  # backed off before each re-ask


def test_not_found_is_final_at_once(google_harness: GoogleHarness, fake: FakeGoogle) -> None:
    h = google_harness
    ghost = CalendarRef("ghost", "ghost@example.com", "ghost@example.com")
    fake.reset_stats()
    answer = h.connector.busy([h.ref("manager"), ghost], WINDOW_START, WINDOW_END)
    assert "notFound" in answer.errors["ghost"] and len(asked(fake)) == 1
    assert h.sleep.delays == []


def test_a_calendar_failing_every_time_is_an_error_for_that_person_only(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    for email in ("boss@example.com", "ann@example.com"):
        fake.add_user(email)
    google = GoogleConnector(
        connector_options(fake, google_key_file, max_attempts=3),
        ConnectorContext(base_dir=tmp_path),
        sleep=RecordedSleep(),
    )
    boss = CalendarRef("boss", "boss@example.com", "boss@example.com")
    ann = CalendarRef("ann", "ann@example.com", "ann@example.com")
    fake.store.fail_freebusy(ann.calendar_id, *["backendError"] * 5)
    fake.reset_stats()
    answer = google.busy([boss, ann], WINDOW_START, WINDOW_START + timedelta(days=7))
    assert set(answer.errors) == {"ann"} and "boss" in answer.intervals
    assert "backendError" in answer.errors["ann"] and "ann@example.com" in answer.errors["ann"]
    assert "check the calendar id" not in answer.errors["ann"]  # not the config's fault
    assert len(asked(fake)) == 3  # max_attempts asks in all


def test_mixed_reasons_are_final() -> None:
    refs = [CalendarRef(p, f"{p}@example.com", f"{p}@example.com") for p in ("a", "b", "c")]
    answer = {
        "calendars": {
            "a@example.com": {"errors": [{"reason": "backendError"}], "busy": []},
            "B@example.com": {"errors": [{"reason": "internalError"}], "busy": []},
            "c@example.com": {
                "errors": [{"reason": "backendError"}, {"reason": "notFound"}],
                "busy": [],
            },
        }
    }
    assert [r.person_id for r in temporary_failures(answer, refs)] == ["a", "b"]
