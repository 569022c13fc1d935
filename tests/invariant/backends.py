"""One `World` per back end: the local folder, CalDAV on a real Radicale, the Google
fake and the Graph fake, each with its census read from the back end's own state."""

from __future__ import annotations

import random
from pathlib import Path

from connectors.base import SESSION_TAG, CalendarConnector, ConnectorContext
from connectors.caldav.connector import open_connector as open_caldav
from connectors.google.connector import GoogleConnector
from connectors.google.wire import parse_time
from connectors.ics.connector import open_connector as open_local
from connectors.outlook.connector import OutlookConnector
from tests.contract.harness import PEOPLE
from tests.contract.test_caldav import PASSWORD_ENV, SERVICE_USER, CaldavHarness
from tests.contract.test_local import LocalHarness
from tests.contract.test_outlook import OutlookHarness
from tests.fakes.google_faults import FaultPlan as GoogleFaults
from tests.fakes.google_harness import GoogleHarness, RecordedSleep, connector_options
from tests.fakes.google_server import FakeGoogle
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph
from tests.fakes.radicale_server import USERS, RadicaleServer
from tests.invariant.worlds import LiveEvent, World, environment, ics_census, temp_folder

MANAGER_EMAIL = PEOPLE["manager"][0]
FAULT_RATE = 0.3


def local_world() -> World:
    folder, remove = temp_folder()
    harness = LocalHarness(folder)
    options = {"path": str(harness.root), "outbox": str(harness.outbox)}

    def make() -> CalendarConnector:
        return open_local(options, ConnectorContext(base_dir=folder))

    def census() -> list[LiveEvent]:
        files = sorted(harness.root.glob("*.ics"))
        return ics_census((f.name == f"{MANAGER_EMAIL}.ics", f.read_bytes()) for f in files)

    return World(
        "local",
        harness,
        make,
        census,
        faults_on=lambda _seed: None,
        faults_off=lambda: None,
        folder=folder,
        options=options,
        flaky_rate=FAULT_RATE,
        cleanup=[remove],
    )


def caldav_world(server: RadicaleServer) -> World:
    folder, remove = temp_folder()
    restore = environment(PASSWORD_ENV, USERS[SERVICE_USER])
    harness = CaldavHarness(server, folder)
    options = {
        "url": server.url,
        "username": SERVICE_USER,
        "password_env": PASSWORD_ENV,
        "organizer_name": "Manager",
    }

    def make() -> CalendarConnector:
        return open_caldav(options, ConnectorContext(base_dir=folder))

    def census() -> list[LiveEvent]:
        return ics_census((True, cal.to_ical()) for _h, _e, cal in harness.items("manager"))

    return World(
        "caldav",
        harness,
        make,
        census,
        faults_on=lambda _seed: None,
        faults_off=lambda: None,
        folder=folder,
        options=options,
        flaky_rate=FAULT_RATE,
        cleanup=[remove, restore, harness.close],
    )


def google_world(fake: FakeGoogle, key_file: Path) -> World:
    fake.reset()
    folder, remove = temp_folder()
    harness = GoogleHarness(fake, key_file, folder)
    options = connector_options(fake, key_file, page_size=50)

    def make() -> GoogleConnector:
        return GoogleConnector(options, ConnectorContext(base_dir=folder), sleep=RecordedSleep())

    def census() -> list[LiveEvent]:
        live = []
        for item in fake.store.events(MANAGER_EMAIL):
            key = item.get("extendedProperties", {}).get("private", {}).get(SESSION_TAG)
            if not key or item.get("status") == "cancelled":
                continue
            emails = frozenset(str(a["email"]).lower() for a in item.get("attendees", []))
            live.append(LiveEvent(key, parse_time(item["start"]), parse_time(item["end"]), emails))
        return live

    def faults_on(seed: int) -> None:
        fake.faults = GoogleFaults(rate=FAULT_RATE, seed=seed)

    def faults_off() -> None:
        fake.faults = GoogleFaults()

    return World(
        "google",
        harness,
        make,
        census,
        faults_on=faults_on,
        faults_off=faults_off,
        folder=folder,
        options=options,
        cleanup=[remove, harness.connector.close],
    )


def graph_world() -> World:
    folder, remove = temp_folder()
    restore = environment("COACHPASS_TEST_GRAPH_SECRET", CLIENT_SECRET)
    fake = FakeGraph([email for email, _zone in PEOPLE.values()]).start()
    harness = OutlookHarness(fake, folder)
    options = fake.options()

    def make() -> OutlookConnector:
        sleeps: list[float] = []
        return OutlookConnector(
            options,
            ConnectorContext(base_dir=folder),
            transport=fake.transport(),
            sleep=sleeps.append,
        )

    def census() -> list[LiveEvent]:
        live = []
        with fake.lock:
            for event in fake.state.events.values():
                keys = [v for v in event.ext_props.values() if v.startswith("cp")]
                if not keys or event.deleted or event.is_cancelled:
                    continue
                if event.mailbox.lower() != MANAGER_EMAIL:
                    continue
                emails = frozenset(
                    str(a["emailAddress"]["address"]).lower() for a in event.attendees
                )
                live.append(LiveEvent(keys[0], event.start, event.end, emails))
        return live

    def faults_on(seed: int) -> None:
        fake.faults.clear()
        fake.faults.kinds = ("429", "503", "reset")
        fake.faults._rng = random.Random(seed)
        fake.faults.rate = FAULT_RATE

    return World(
        "outlook",
        harness,
        make,
        census,
        faults_on=faults_on,
        faults_off=fake.faults.clear,
        folder=folder,
        options=options,
        cleanup=[remove, restore, fake.stop, harness.connector.close],
    )
