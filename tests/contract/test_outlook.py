"""The connector contract suite run against the Outlook connector and the fake Graph.

Each test gets a fresh fake server on 127.0.0.1; the harness acts on it the way
people act in their own Outlook (test controls of `FakeGraph`), and the connector
reaches it over real HTTP through msal's real client-credentials path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from connectors.base import BusyKind, CalendarRef, ConnectorContext, Response
from connectors.outlook.connector import OutlookConnector
from tests.contract.harness import PEOPLE
from tests.contract.suite import ConnectorContract
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

_SHOW_AS = {BusyKind.BUSY: "busy", BusyKind.TENTATIVE: "tentative", BusyKind.OOF: "oof"}
_RESPONSE = {
    Response.ACCEPTED: "accepted",
    Response.DECLINED: "declined",
    Response.TENTATIVE: "tentativelyAccepted",
    Response.NEEDS_ACTION: "none",
}


class OutlookHarness:
    def __init__(self, fake: FakeGraph, tmp_path: Path) -> None:
        self.fake = fake
        self.sleeps: list[float] = []
        self.connector = OutlookConnector(
            fake.options(),
            ConnectorContext(base_dir=tmp_path),
            transport=fake.transport(),
            sleep=self.sleeps.append,  # Retry-After is recorded, not waited for
        )

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
        self.fake.add_event(
            PEOPLE[person_id][0], start, end, show_as=_SHOW_AS[kind], subject=summary
        )

    def respond(self, key: str, person_id: str, response: Response) -> None:
        self.fake.respond(key, PEOPLE[person_id][0], _RESPONSE[response])

    def cancel_in_calendar(self, key: str) -> None:
        self.fake.cancel_by_organiser(key)

    def move_in_calendar(self, key: str, start: datetime, end: datetime) -> None:
        self.fake.move(key, start, end)

    def count_events(self, key: str) -> int:
        # Deleted Items included: an event ever created twice is counted twice.
        return len(self.fake.by_key(key, include_deleted=True))

    def expire_cursor(self) -> None:
        self.fake.expire_delta_tokens()


@pytest.fixture
def fake_graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv("COACHPASS_TEST_GRAPH_SECRET", CLIENT_SECRET)
    fake = FakeGraph([email for email, _zone in PEOPLE.values()]).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def harness(fake_graph: FakeGraph, tmp_path: Path) -> Iterator[OutlookHarness]:
    h = OutlookHarness(fake_graph, tmp_path)
    try:
        yield h
    finally:
        h.connector.close()


class TestOutlookContract(ConnectorContract):
    @pytest.mark.xfail(
        strict=True,
        reason="Graph's cancel moves the organiser's event to Deleted Items, where no "
        "documented query finds it by tag: a re-create of a cancelled key makes a new event",
    )
    def test_create_after_cancel_adopts_the_cancelled_event(self, harness: OutlookHarness) -> None:
        super().test_create_after_cancel_adopts_the_cancelled_event(harness)  # type: ignore[arg-type]
