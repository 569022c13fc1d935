"""The worlds the invariant machines run in: one organisation (a manager and two
sellers) on one back end, a real store, and the back end's calendars read from the
*outside* (the fake's own state, the .ics files, Radicale's collections), never
through the store or the connector under test.

Each world reuses the contract suite's harness (tests/contract) for what people do in
their calendars: reply, delete, drag, and expire sync cursors. What is added here is
a census of the live Coachpass events in the calendars, a way to build the connector
anew (a crash drops every object), and faults: the fakes' own fault injection for
Google and Graph; for the local and CalDAV connectors a `Flaky` wrapper that fails a
call before it reaches the calendars, or after (the answer is lost).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import yaml

from connectors.base import (
    SESSION_TAG,
    AttendanceAnswer,
    CalendarConnector,
    CalendarRef,
    ChangeSet,
    EventChange,
    FreeBusy,
    Lookup,
    MeetingQuery,
    NewEvent,
    Result,
    TransientError,
)
from connectors.ics.events import attendee_emails, event_state, key_of
from scheduler.runtime import Runtime
from scheduler.settings.load import load_settings
from tests.contract.harness import PEOPLE, Harness

ORG_ZONE = ZoneInfo("Europe/Stockholm")
#: An empty, migrated store: copied for each example (migrating takes seconds).
_TEMPLATE_DB = Path(tempfile.gettempdir()) / f"coachpass-invariant-{os.getpid()}.db"
MANAGER = "manager"
SELLERS = ("seller1", "seller2")


@dataclass(frozen=True)
class LiveEvent:
    """A Coachpass event that is not cancelled, as the calendars hold it."""

    key: str
    start: datetime
    end: datetime
    attendees: frozenset[str]  # lower-case e-mails
    organisers: bool = True  # in the organiser's calendar (else only in a copy)


class Crash(BaseException):
    """The process dies here: nothing after it runs, no handler catches it."""


class Flaky:
    """A connector whose calls fail now and then: before reaching the calendars
    (nothing happened) or after (it happened, the answer was lost)."""

    def __init__(self, inner: CalendarConnector, rng: random.Random, rate: float) -> None:
        self.inner, self.rng, self.rate = inner, rng, rate
        self.name = inner.name

    def _call(self, what: str, run: Callable[[], Any]) -> Any:
        roll = self.rng.random()
        if roll < self.rate / 2:
            raise TransientError(f"{what}: injected fault before the call")
        answer = run()
        if roll < self.rate:
            raise TransientError(f"{what}: injected fault, the answer was lost")
        return answer

    def busy(self, calendars: Sequence[CalendarRef], start: datetime, end: datetime) -> FreeBusy:
        answer: FreeBusy = self._call("busy", lambda: self.inner.busy(calendars, start, end))
        return answer

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        answer: list[Result] = self._call("create", lambda: self.inner.create(events))
        return answer

    def update(self, changes: Sequence[EventChange]) -> list[Result]:
        answer: list[Result] = self._call("update", lambda: self.inner.update(changes))
        return answer

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        answer: ChangeSet = self._call(
            "changes", lambda: self.inner.changes(organizer, cursor, start, end)
        )
        return answer

    def lookup(self, organizer: CalendarRef, keys: Sequence[str]) -> Lookup:
        answer: Lookup = self._call("lookup", lambda: self.inner.lookup(organizer, keys))
        return answer

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        answer: AttendanceAnswer = self._call("attendance", lambda: self.inner.attendance(queries))
        return answer

    def close(self) -> None:
        self.inner.close()


class CrashingCreate:
    """A connector that dies in `create`: before sending (the intent is in the
    store, the calendar never heard of it) or after (the event exists, the store
    never learnt it)."""

    def __init__(self, inner: CalendarConnector, after: bool) -> None:
        self.inner, self.after = inner, after
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        if self.after:
            self.inner.create(events)
        raise Crash("killed while creating events")


@dataclass
class World:
    """One back end's calendars, harness and connector factory."""

    name: str  # registry name of the connector
    harness: Harness
    make_connector: Callable[[], CalendarConnector]
    census: Callable[[], list[LiveEvent]]
    faults_on: Callable[[int], None]
    faults_off: Callable[[], None]
    folder: Path
    options: dict[str, Any] = field(default_factory=dict)
    flaky_rate: float = 0.0  # > 0: wrap the connector in `Flaky` while faults are on
    _rng: random.Random = field(default_factory=lambda: random.Random(0))
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def config(self) -> Path:
        def person(pid: str) -> dict[str, Any]:
            email, zone = PEOPLE[pid]
            return {
                "id": pid,
                "name": pid.title(),
                "email": email,
                "timezone": zone,
                "country": "SE",
                "calendar": self.harness.ref(pid).calendar_id,
            }

        config = {
            "organisation": {
                "id": "acme",
                "name": "Acme",
                "timezone": "Europe/Stockholm",
                "country": "SE",
                "language": "en",
            },
            "policy": {"session_minutes": 45, "buffer_minutes": 10, "lead_time_hours": 24},
            "teams": [
                {
                    "id": "t1",
                    "name": "Team One",
                    "connector": self.name,
                    "manager": person(MANAGER),
                    "sellers": [person(s) for s in SELLERS],
                }
            ],
            "connectors": {self.name: self.options},
            "mail": {"from": "Coachpass <coachpass@example.com>", "outbox": "outbox"},
            "store": {"url": f"sqlite:///{self.folder / 'coachpass.db'}"},
        }
        path = self.folder / "coachpass.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def runtime(self, connector: CalendarConnector | None = None) -> Runtime:
        """A new process: settings read again, store opened again, a new connector."""
        db = self.folder / "coachpass.db"
        if not db.exists() and _TEMPLATE_DB.exists():
            shutil.copyfile(_TEMPLATE_DB, db)  # migrated once per session, not per example
        rt = Runtime.open(load_settings(self.config()))
        if not _TEMPLATE_DB.exists():
            shutil.copyfile(db, _TEMPLATE_DB)
        rt._connectors[self.name] = connector or self.make_connector()
        return rt

    def flaky(self, rt: Runtime, seed: int) -> None:
        if self.flaky_rate:
            self._rng.seed(seed)
            rt._connectors[self.name] = Flaky(rt._connectors[self.name], self._rng, self.flaky_rate)

    def steady(self, rt: Runtime) -> None:
        conn = rt._connectors[self.name]
        if isinstance(conn, Flaky):
            rt._connectors[self.name] = conn.inner

    def close(self) -> None:
        for step in reversed(self.cleanup):
            step()


def month_of(value: datetime) -> tuple[int, int]:
    local = value.astimezone(ORG_ZONE)
    return local.year, local.month


# --- censuses: the calendars as their owners see them --------------------------------


def ics_census(texts: Iterator[tuple[bool, bytes]]) -> list[LiveEvent]:
    """Live Coachpass events in iCalendar data, one per key. `texts` yields
    (is the organiser's, data); the organiser's copy decides the time, and a key
    live in any calendar is live (an attendee's orphan copy counts)."""
    found: dict[str, tuple[bool, LiveEvent]] = {}
    for organisers, data in texts:
        calendar = icalendar.Calendar.from_ical(data)
        for vevent in calendar.walk("VEVENT"):
            tag = vevent.get(SESSION_TAG)
            key = key_of(str(vevent.get("UID", "")), str(tag) if tag else None)
            if key is None or vevent.get("RECURRENCE-ID") is not None:
                continue
            state = event_state(vevent, key, UTC)
            if state is None or state.cancelled:
                continue
            emails = frozenset(attendee_emails(vevent))
            live = LiveEvent(key, state.start, state.end, emails, organisers)
            if key not in found or (organisers and not found[key][0]):
                found[key] = (organisers, live)
    return [live for _, live in found.values()]


def temp_folder() -> tuple[Path, Callable[[], None]]:
    path = Path(tempfile.mkdtemp(prefix="coachpass-invariant-"))

    def remove() -> None:
        shutil.rmtree(path, ignore_errors=True)

    return path, remove


def environment(name: str, value: str) -> Callable[[], None]:
    old = os.environ.get(name)
    os.environ[name] = value

    def restore() -> None:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old

    return restore
