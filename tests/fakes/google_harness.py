"""The Google back end's test plug-in: connector + fake server + outside actions.

`GoogleHarness` implements tests/contract/harness.py against `FakeGoogle`: what a
person does in Google Calendar (add a meeting, reply, delete, drag) is done through
the fake's store, as Google's own apps would, and the connector is the real one
talking HTTP to the fake with a delegated service account.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import SESSION_TAG, BusyKind, CalendarRef, ConnectorContext, Response
from connectors.google.connector import GoogleConnector
from tests.contract.harness import PEOPLE
from tests.fakes.google_server import FakeGoogle

_RESPONSE = {
    Response.ACCEPTED: "accepted",
    Response.DECLINED: "declined",
    Response.TENTATIVE: "tentative",
    Response.NEEDS_ACTION: "needsAction",
}


class RecordedSleep:
    """Stands in for time.sleep: records the delays the connector asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def connector_options(fake: FakeGoogle, key_file: Path, **extra: Any) -> dict[str, Any]:
    return {
        "api_endpoint": fake.api_endpoint,
        "meet_endpoint": fake.api_endpoint,  # Meet v2 and the Directory: same fake
        "directory_endpoint": fake.api_endpoint,
        "service_account_file": str(key_file),
        "delegation": True,
        "page_size": 2,  # small pages: every read crosses page boundaries
        "backoff_seconds": 0.01,
        "timeout_seconds": 10,
        **extra,
    }


class GoogleHarness:
    def __init__(self, fake: FakeGoogle, key_file: Path, tmp_path: Path) -> None:
        self.fake = fake
        for email, _zone in PEOPLE.values():
            fake.add_user(email)
        self.sleep = RecordedSleep()
        self.connector = GoogleConnector(
            connector_options(fake, key_file),
            ConnectorContext(base_dir=tmp_path),
            sleep=self.sleep,
        )

    @property
    def manager(self) -> str:
        return PEOPLE["manager"][0]

    def ref(self, person_id: str) -> CalendarRef:
        email, zone = PEOPLE[person_id]
        return CalendarRef(person_id, email, email, zone)

    def add_busy(
        self,
        person_id: str,
        start: datetime,
        end: datetime,
        *,
        kind: BusyKind = BusyKind.BUSY,
        summary: str = "Meeting",
    ) -> None:
        email = PEOPLE[person_id][0]
        event: dict[str, Any] = {
            "summary": summary,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": end.isoformat()},
        }
        if kind is BusyKind.OOF:
            event["eventType"] = "outOfOffice"
        elif kind is BusyKind.TENTATIVE:
            # Someone else's meeting this person answered "maybe" to.
            event["attendees"] = [{"email": email, "self": True, "responseStatus": "tentative"}]
        self.fake.store.put(email, event)

    def respond(self, key: str, person_id: str, response: Response) -> None:
        self.fake.store.respond(self.manager, key, PEOPLE[person_id][0], _RESPONSE[response])

    def cancel_in_calendar(self, key: str) -> None:
        self.fake.store.delete(self.manager, key)

    def move_in_calendar(self, key: str, start: datetime, end: datetime) -> None:
        self.fake.store.move(self.manager, key, start, end)

    def count_events(self, key: str) -> int:
        return len(
            [
                event
                for event in self.fake.store.events(self.manager)
                if event["id"] == key
                or event.get("extendedProperties", {}).get("private", {}).get(SESSION_TAG) == key
            ]
        )

    def expire_cursor(self) -> None:
        self.fake.store.expire_sync_tokens()


@pytest.fixture(scope="module")
def google_fake() -> Iterator[FakeGoogle]:
    fake = FakeGoogle().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def google_key_file(google_fake: FakeGoogle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return google_fake.tokens.service_account_file(tmp_path_factory.mktemp("google-key"))


@pytest.fixture
def fake(google_fake: FakeGoogle) -> FakeGoogle:
    """The module's fake server, emptied for this test."""
    google_fake.reset()
    return google_fake


@pytest.fixture
def google_harness(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> Iterator[GoogleHarness]:
    harness = GoogleHarness(fake, google_key_file, tmp_path)
    yield harness
    harness.connector.close()
