"""The connector contract suite run against the `local` (ICS folder) connector.

The harness acts on the .ics files the way a person's calendar client would: it
writes unrelated events, an attendee's reply as the organiser's client records it
(PARTSTAT), deletions and drags, editing only through text splicing so the rest of
each file stays as it was.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import icalendar
import pytest

from connectors.base import BusyKind, CalendarRef, ConnectorContext, Response
from connectors.ics.changes import EPOCH_PROPERTY
from connectors.ics.connector import LocalConnector, open_connector
from connectors.ics.events import key_of, parse_block, set_partstat, to_block
from connectors.ics.files import (
    append_vevent,
    empty_calendar,
    read_text,
    replace_span,
    set_calendar_level_property,
    vevent_spans,
    write_text,
)
from tests.contract.harness import PEOPLE, busy_vevent
from tests.contract.suite import NoMeetingsContract

_PARTSTAT = {
    Response.ACCEPTED: "ACCEPTED",
    Response.DECLINED: "DECLINED",
    Response.TENTATIVE: "TENTATIVE",
    Response.NEEDS_ACTION: "NEEDS-ACTION",
}


class LocalHarness:
    """One calendar file per person, named after their e-mail (what the demo writes)."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "calendars"
        self.root.mkdir()
        self.outbox = tmp_path / "outbox"
        for email, _zone in PEOPLE.values():
            write_text(self.root / f"{email}.ics", empty_calendar())
        connector = open_connector(
            {"path": "calendars", "outbox": "outbox", "organizer_name": "Manager"},
            ConnectorContext(base_dir=tmp_path),
        )
        assert isinstance(connector, LocalConnector)
        self.connector = connector

    def ref(self, person_id: str) -> CalendarRef:
        email, zone = PEOPLE[person_id]
        return CalendarRef(person_id, email, f"{email}.ics", zone)

    def file(self, person_id: str) -> Path:
        return self.root / self.ref(person_id).calendar_id

    def add_busy(
        self,
        person_id: str,
        start: datetime,
        end: datetime,
        *,
        kind: BusyKind = BusyKind.BUSY,
        summary: str = "Meeting",
    ) -> None:
        vevent = busy_vevent(start, end, kind, summary)
        path = self.file(person_id)
        write_text(path, append_vevent(read_text(path), to_block(vevent)))

    def _edit(self, person_id: str, key: str, edit: object) -> None:
        path = self.file(person_id)
        text = read_text(path)
        for span in vevent_spans(text):
            if key_of(span.uid, span.tag) == key:
                vevent = parse_block(text[span.start : span.end])
                new_block = edit(vevent)  # type: ignore[operator]
                write_text(path, replace_span(text, span, new_block))
                return
        raise AssertionError(f"no event {key} in {path}")

    def respond(self, key: str, person_id: str, response: Response) -> None:
        email = PEOPLE[person_id][0]

        def reply(vevent: icalendar.Event) -> str:
            assert set_partstat(vevent, email, _PARTSTAT[response])
            return to_block(vevent)

        # The organiser's client records the iTIP REPLY; the attendee's own copy too.
        self._edit("manager", key, reply)
        self._edit(person_id, key, reply)

    def cancel_in_calendar(self, key: str) -> None:
        # The organiser deletes the event outright: the harder case for a cursor.
        self._edit("manager", key, lambda vevent: "")

    def move_in_calendar(self, key: str, start: datetime, end: datetime) -> None:
        def drag(vevent: icalendar.Event) -> str:
            for name in ("DTSTART", "DTEND"):
                vevent.pop(name)
            vevent.add("DTSTART", start)  # written with TZID, as clients do
            vevent.add("DTEND", end)
            return to_block(vevent)

        self._edit("manager", key, drag)

    def count_events(self, key: str) -> int:
        text = read_text(self.file("manager"))
        return sum(1 for span in vevent_spans(text) if key_of(span.uid, span.tag) == key)

    def expire_cursor(self) -> None:
        path = self.file("manager")
        write_text(
            path, set_calendar_level_property(read_text(path), EPOCH_PROPERTY, uuid.uuid4().hex)
        )


@pytest.fixture
def harness(tmp_path: Path) -> LocalHarness:
    return LocalHarness(tmp_path)


class TestLocalContract(NoMeetingsContract):
    pass
