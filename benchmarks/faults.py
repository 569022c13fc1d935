"""Fault benchmark: `coachpass book` under provider faults and `kill -9`, then a rerun.

    .venv/bin/python benchmarks/faults.py                 # 50 trials per provider
    .venv/bin/python benchmarks/faults.py --quick         # 5 trials per provider
    .venv/bin/python benchmarks/faults.py --trials 100 --providers google outlook

Each trial books one month for a fresh organisation (2 teams of 3 sellers) in a fresh
store against a fresh fake calendar:

1. `coachpass book` runs as a subprocess while the fake injects faults at a random
   rate (Google: 429, 503, 504 and batches cut mid-way with the answer lost; Graph:
   429, 503, 504, connection resets after the work was done, slow answers), and is
   killed with SIGKILL at a random point once booking has started (its first
   connector call), unless it finished first;
2. the faults stop and `coachpass book` is run again (in this process, through the
   CLI's error handler) until it exits 0, at most 3 times;
3. the fake's own state is read: per seller, the live Coachpass events in the
   manager's calendar (0 = a missing session, more than 1 = duplicates), and every
   invitation the seller received without the agenda file (Graph: the file attached
   to what was sent; Google: the agenda in the event, which is what the invitation
   carries; local: the `.eml` in the outbox). The store must agree (`booked`, with
   the calendar's event).

The local connector runs the kill only (it has no network to fail). Figures only:
nothing here asserts; `tests/test_benchmarks_faults.py` runs 2 trials so the script
cannot rot.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from connectors.base import SESSION_TAG  # noqa: E402

MONTH = "2031-03"
NOW = "2031-02-20T08:00:00+00:00"
AGENDA_FILE = f"coaching-agenda-{MONTH}.html"
TEAMS = {"m1": ["a1", "a2", "a3"], "m2": ["b1", "b2", "b3"]}
MARKER = "COACHPASS-FAULTS-STARTED"
GRAPH_PORT_ENV = "COACHPASS_FAULTS_GRAPH_PORT"


def email(pid: str) -> str:
    return f"{pid}@example.com"


# -- the child: `coachpass book` with a marker, and Graph routed to the fake ----------


def route_graph_to(port: int) -> None:
    """Make every OutlookConnector talk to the fake Graph on `port` (its https names
    go to the loopback port), as the tests do with `FakeGraph.transport()`."""
    from connectors.outlook import connector as outlook
    from tests.fakes.graph_wire import LoopbackTransport

    original = outlook.OutlookConnector.__init__

    def init(self: Any, options: Any, context: Any, **kw: Any) -> None:
        kw.setdefault("transport", LoopbackTransport(port))
        original(self, options, context, **kw)

    outlook.OutlookConnector.__init__ = init  # type: ignore[method-assign]


def child(argv: list[str], marker: Path) -> int:
    """Run the CLI as `coachpass` would; touch `marker` when booking first asks
    for a calendar connector (from then on a kill hits the interesting part)."""
    from scheduler.cli.main import main
    from scheduler.runtime import Runtime

    if os.environ.get(GRAPH_PORT_ENV):
        route_graph_to(int(os.environ[GRAPH_PORT_ENV]))
    original = Runtime.connector

    def connector(self: Runtime, name: str) -> Any:
        if not marker.exists():
            marker.write_text(MARKER)
        return original(self, name)

    Runtime.connector = connector  # type: ignore[method-assign]
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def zygote() -> None:
    """A launcher with everything imported once: per request line on stdin
    (`cwd<TAB>marker<TAB>env json<TAB>argv json`) it forks a child that runs the CLI
    exactly as `coachpass book` does, prints `pid N`, waits, prints `exit N CODE`.
    A fork is a separate process (own memory, own SQLite connection, own locks), so
    SIGKILL to it is a `kill -9` of `coachpass book`; it saves the ~3-10 s of
    imports a fresh interpreter pays on this shared machine."""
    import json

    import connectors.google.connector
    import connectors.ics.connector
    import connectors.outlook.connector  # noqa: F401
    import scheduler.cli.main
    import scheduler.planning.planner
    import scheduler.sessions.booking  # noqa: F401

    print("ready", flush=True)
    for line in sys.stdin:
        cwd, marker, env, argv = line.rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.chdir(cwd)
                os.environ.update(json.loads(env))
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                code = child(json.loads(argv), Path(marker))
            finally:
                os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {pid} {os.waitstatus_to_exitcode(status)}", flush=True)


class Launcher:
    """The parent's handle on the zygote."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, cwd: Path, marker: Path, env: dict[str, str], argv: list[str]) -> int:
        import json

        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{cwd}\t{marker}\t{json.dumps(env)}\t{json.dumps(argv)}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline().split()[1])

    def wait(self) -> int:
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline().split()[2])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- one provider's fake and organisation ---------------------------------------------


def person(pid: str, provider: str) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": pid,
        "name": pid.upper(),
        "email": email(pid),
        "timezone": "Europe/Stockholm",
        "country": "SE",
    }
    if provider == "local":
        p["calendar"] = f"{pid}.ics"
    return p


def write_config(folder: Path, provider: str, connector: dict[str, Any]) -> Path:
    if provider == "local":
        from tests.orgs import EMPTY_ICS

        cal = folder / "calendars"
        cal.mkdir(parents=True, exist_ok=True)
        for m, sellers in TEAMS.items():
            for pid in [m, *sellers]:
                (cal / f"{pid}.ics").write_text(EMPTY_ICS.format(email=email(pid)))
    config = {
        "organisation": {
            "id": "acme",
            "name": "Acme",
            "timezone": "Europe/Stockholm",
            "country": "SE",
            "language": "en",
        },
        "defaults": {"connector": provider},
        "policy": {
            "session_minutes": 45,
            "buffer_minutes": 10,
            "lead_time_hours": 24,
            "working_hours": {"start": "09:00", "end": "17:00"},
        },
        "teams": [
            {
                "id": f"t-{m}",
                "name": f"Team {m}",
                "manager": person(m, provider),
                "sellers": [person(s, provider) for s in sellers],
            }
            for m, sellers in TEAMS.items()
        ],
        "leadership": [{"name": "Chief", "email": "chief@example.com"}],
        "connectors": {provider: connector},
        "mail": {"from": "Coachpass <coachpass@example.com>", "outbox": "outbox"},
        "store": {"url": "sqlite:///coachpass.db"},
        "schedule": {"timezone": "Europe/Stockholm"},
    }
    path = folder / "coachpass.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Calendars:
    """What the fake itself holds after a trial: seller -> [(key, event id, has agenda)]
    for live events, and the invitations each seller received, with or without the
    agenda file."""

    events: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)
    invitations_without_agenda: int = 0


class Provider:
    name = ""
    injected = 0

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def fresh(self, folder: Path) -> Path:
        raise NotImplementedError

    def faults_on(self, rng: random.Random) -> None: ...
    def faults_off(self) -> None: ...
    def child_env(self) -> dict[str, str]:
        return {}

    def calendars(self, folder: Path) -> Calendars:
        raise NotImplementedError


class GoogleProvider(Provider):
    name = "google"

    def start(self) -> None:
        from tests.fakes.google_server import FakeGoogle

        self.fake = FakeGoogle()
        # A killed child leaves connections reset mid-request: expected, not news.
        self.fake._httpd.handle_error = lambda *_args: None  # type: ignore[method-assign]
        self.fake.start()
        self.keys = Path(tempfile.mkdtemp(prefix="coachpass-faults-key-"))
        self.key_file = self.fake.tokens.service_account_file(self.keys)

    def stop(self) -> None:
        self.fake.stop()

    def fresh(self, folder: Path) -> Path:
        from tests.fakes.google_harness import connector_options

        self.fake.reset()
        for m, sellers in TEAMS.items():
            for pid in [m, *sellers]:
                self.fake.add_user(email(pid))
        options = connector_options(self.fake, self.key_file, page_size=50, timeout_seconds=5)
        return write_config(folder, "google", options)

    def faults_on(self, rng: random.Random) -> None:
        from tests.fakes.google_faults import Fault, FaultPlan

        self.fake.faults = FaultPlan(
            rate=rng.uniform(0.1, 0.4),
            # No Retry-After: the child must not sleep whole seconds per retry.
            kinds=(
                Fault(429, "rateLimitExceeded", "Rate Limit Exceeded"),
                Fault(503, "backendError", "Backend Error"),
                Fault(504, "backendError", "Gateway Timeout"),
            ),
            reset_batches=rng.random() < 0.5,  # lost answers: half a batch done, no reply
            seed=rng.randrange(1 << 30),
        )

    def faults_off(self) -> None:
        from tests.fakes.google_faults import FaultPlan

        self.injected += self.fake.faults.injected + self.fake.faults.resets
        self.fake.wait_idle()
        self.fake.faults = FaultPlan()

    def calendars(self, folder: Path) -> Calendars:
        out = Calendars()
        for m, sellers in TEAMS.items():
            for seller in sellers:
                out.events[seller] = []
            for event in self.fake.store.events(email(m)):
                key = event.get("extendedProperties", {}).get("private", {}).get(SESSION_TAG)
                if not key or event.get("status") == "cancelled":
                    continue
                invited = [a["email"].split("@")[0] for a in event.get("attendees", [])]
                # Google mails the event itself to the attendees (sendUpdates=all):
                # the agenda travels in its description.
                has_agenda = "agenda" in str(event.get("description", "")).lower()
                for seller in invited:
                    if seller in out.events:
                        out.events[seller].append((key, event["id"], has_agenda))
                        out.invitations_without_agenda += not has_agenda
        return out


class GraphProvider(Provider):
    name = "outlook"

    def start(self) -> None:
        from tests.fakes.graph_client import SECRET_ENV
        from tests.fakes.graph_server import CLIENT_SECRET

        os.environ[SECRET_ENV] = CLIENT_SECRET
        self.fake: Any = None

    def stop(self) -> None:
        if self.fake is not None:
            self.fake.stop()

    def fresh(self, folder: Path) -> Path:
        from tests.fakes.graph_server import FakeGraph

        self.stop()
        mailboxes = [email(p) for m, s in TEAMS.items() for p in [m, *s]]
        self.fake = FakeGraph(mailboxes).start()
        assert self.fake._server is not None
        self.fake._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        route_graph_to(self.fake.port)  # for the reruns in this process
        options = self.fake.options(backoff_seconds=0.01, timeout_seconds=5)
        return write_config(folder, "outlook", options)

    def child_env(self) -> dict[str, str]:
        from tests.fakes.graph_client import SECRET_ENV
        from tests.fakes.graph_server import CLIENT_SECRET

        return {GRAPH_PORT_ENV: str(self.fake.port), SECRET_ENV: CLIENT_SECRET}

    def faults_on(self, rng: random.Random) -> None:
        plan = self.fake.faults
        plan.rate = rng.uniform(0.1, 0.4)
        plan.kinds = ("429", "503", "504", "reset", "slow")
        plan.retry_after = "0"
        plan.slow_seconds = 0.2
        plan.seed = rng.randrange(1 << 30)

    def faults_off(self) -> None:
        self.injected += sum(self.fake.faults.injected.values())
        self.fake.faults.clear()

    def calendars(self, folder: Path) -> Calendars:
        out = Calendars()
        with self.fake.lock:
            for _m, sellers in TEAMS.items():
                for seller in sellers:
                    out.events[seller] = []
            for event in self.fake.state.events.values():
                key = next(
                    (v for k, v in event.ext_props.items() if SESSION_TAG.lower() in k.lower()),
                    None,
                )
                if key is None or event.deleted:
                    continue
                names = [a["name"] for a in event.attachments]
                for a in event.attendees:
                    seller = a["emailAddress"]["address"].split("@")[0]
                    if seller in out.events:
                        out.events[seller].append((key, event.id, AGENDA_FILE in names))
            for address, received in self.fake.state.sent.items():
                if address.split("@")[0] in out.events:
                    out.invitations_without_agenda += sum(
                        1
                        for m in received
                        if m["kind"] == "invitation" and AGENDA_FILE not in m["attachments"]
                    )
        return out


class LocalProvider(Provider):
    name = "local"

    def fresh(self, folder: Path) -> Path:
        return write_config(folder, "local", {"path": "calendars", "outbox": "outbox"})

    def calendars(self, folder: Path) -> Calendars:
        import icalendar

        out = Calendars()
        for m, sellers in TEAMS.items():
            for seller in sellers:
                out.events[seller] = []
            cal = icalendar.Calendar.from_ical((folder / "calendars" / f"{m}.ics").read_bytes())
            for ev in cal.walk("VEVENT"):
                key = str(ev.get(SESSION_TAG, ""))
                if not key or str(ev.get("STATUS", "")).upper() == "CANCELLED":
                    continue
                attendees = ev.get("ATTENDEE", [])
                attendees = attendees if isinstance(attendees, list) else [attendees]
                for att in attendees:
                    seller = str(att).split(":", 1)[-1].split("@")[0]
                    if seller in out.events:
                        out.events[seller].append((key, str(ev.get("UID")), True))
        sellers = {s for ss in TEAMS.values() for s in ss}
        for eml in sorted((folder / "outbox").glob("*.eml")):
            msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
            to = str(msg.get("To", "")).split("<")[-1].split("@")[0]
            for part in msg.walk():
                if part.get_content_type() != "text/calendar" or to not in sellers:
                    continue
                ics = icalendar.Calendar.from_ical(part.get_content())
                if str(ics.get("METHOD", "")).upper() != "REQUEST":
                    continue
                for ev in ics.walk("VEVENT"):
                    files = ev.get("ATTACH", [])
                    files = files if isinstance(files, list) else [files]
                    names = [getattr(f, "params", {}).get("X-FILENAME") for f in files]
                    out.invitations_without_agenda += AGENDA_FILE not in names
        return out


# -- a trial ----------------------------------------------------------------------------


@dataclass
class Tally:
    trials: int = 0
    killed: int = 0
    reruns: int = 0
    unfinished: int = 0  # reruns that never reached exit 0
    duplicates: int = 0
    missing: int = 0
    without_agenda: int = 0
    store_disagrees: int = 0
    seconds: float = 0.0


def run_book(config: Path) -> int:
    from scheduler.cli.main import main

    try:
        main(["--config", str(config), "book", "--month", MONTH])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _quiet(call: Callable[[], int]) -> int:
    """Run `call` with stdout/stderr silenced (the rerun's summary lines)."""
    with open(os.devnull, "w") as devnull:
        saved = os.dup(1), os.dup(2)
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            return call()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def kill_at_random(
    launcher: Launcher, pid: int, marker: Path, window: float | None
) -> tuple[bool, float | None]:
    """Wait until booking has started (the marker), then SIGKILL the child at a
    random point within `window` seconds, unless it finished first (`None`: let
    it finish). Returns whether it was killed, and how long booking took when it
    finished."""
    deadline = time.monotonic() + 120
    while not marker.exists():
        if time.monotonic() > deadline or not _alive(pid):
            launcher.wait()
            return False, None
        time.sleep(0.002)
    started = time.monotonic()
    at = started + (random.uniform(0.0, window) if window is not None else 1e9)
    while time.monotonic() < at:
        if not _alive(pid):
            took = time.monotonic() - started
            launcher.wait()
            return False, took
        time.sleep(0.002)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        # It finished (and the zygote reaped it) between the last look and the kill.
        launcher.wait()
        return False, time.monotonic() - started
    return launcher.wait() == -signal.SIGKILL, None


def _alive(pid: int) -> bool:
    """Whether the zygote's child still runs (a zombie until the zygote reaps it
    counts as finished: /proc says so)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def trial(
    provider: Provider,
    launcher: Launcher,
    rng: random.Random,
    tally: Tally,
    window: list[float],
    *,
    kill: bool = True,
) -> None:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="coachpass-faults-") as tmp:
        folder = Path(tmp)
        config = provider.fresh(folder)
        provider.faults_on(rng)
        marker = folder / "started"
        pid = launcher.start(
            folder,
            marker,
            {"COACHPASS_NOW": NOW, **provider.child_env()},
            ["--config", str(config), "book", "--month", MONTH],
        )
        killed, took = kill_at_random(launcher, pid, marker, window[0] if kill else None)
        tally.killed += killed
        if not kill and took is not None:
            window[0] = took
        provider.faults_off()
        for _ in range(3):
            tally.reruns += 1
            if _quiet(lambda: run_book(config)) == 0:
                break
        else:
            tally.unfinished += 1
        found = provider.calendars(folder)
        tally.trials += 1
        tally.without_agenda += found.invitations_without_agenda
        tally.store_disagrees += store_disagreements(folder, found)
        for events in found.events.values():
            tally.duplicates += max(0, len(events) - 1)
            tally.missing += not events
    tally.seconds += time.monotonic() - began


def store_disagreements(folder: Path, found: Calendars) -> int:
    """Sellers whose store row is not `booked` with the one live event's key."""
    from scheduler.store.store import Store

    store = Store.open(f"sqlite:///{folder / 'coachpass.db'}")
    try:
        live = {s: {k for k, _, _ in ev} for s, ev in found.events.items()}
        bad = 0
        for seller in live:
            rows = [r for r in store.sessions(seller_id=seller) if r.state.active]
            keys = {r.key for r in rows if r.state.value == "booked"}
            bad += keys != live[seller] or len(rows) != 1
        return bad
    finally:
        store.close()


PROVIDERS: dict[str, type[Provider]] = {
    "google": GoogleProvider,
    "outlook": GraphProvider,
    "local": LocalProvider,
}


def run(
    names: list[str],
    trials: int,
    seed: int,
    echo: Callable[[str], None] = print,
    *,
    calibrate: bool = True,
) -> dict[str, Tally]:
    os.environ["COACHPASS_NOW"] = NOW
    results: dict[str, Tally] = {}
    launcher = Launcher()
    echo(
        f"{'provider':<9} {'trials':>6} {'killed':>6} {'faults':>6} {'reruns':>6} "
        f"{'dup events':>10} {'missing':>7} {'no agenda':>9} {'store!=cal':>10} {'s/trial':>7}"
    )
    for name in names:
        provider = PROVIDERS[name]()
        provider.start()
        rng = random.Random(seed)
        random.seed(seed)
        tally = Tally()
        # The kill falls in [0, window] s after booking started, window being how
        # long one faulted booking took when left to finish (not counted).
        window = [1.0]
        if calibrate:
            trial(provider, launcher, rng, Tally(), window, kill=False)
        try:
            for _ in range(trials):
                trial(provider, launcher, rng, tally, window)
        finally:
            provider.stop()
        results[name] = tally
        echo(
            f"{name:<9} {tally.trials:>6} {tally.killed:>6} {provider.injected:>6} "
            f"{tally.reruns:>6} {tally.duplicates:>10} {tally.missing:>7} "
            f"{tally.without_agenda:>9} {tally.store_disagrees:>10} "
            f"{tally.seconds / max(1, tally.trials):>7.2f}"
        )
    launcher.close()
    return results


def main() -> None:
    import faulthandler

    faulthandler.register(signal.SIGUSR1)  # a stuck run tells where it is
    if "--zygote" in sys.argv:
        zygote()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="trials per provider")
    parser.add_argument("--quick", action="store_true", help="5 trials per provider")
    parser.add_argument("--providers", nargs="+", default=list(PROVIDERS), choices=list(PROVIDERS))
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    run(args.providers, 5 if args.quick else args.trials, args.seed)


if __name__ == "__main__":
    main()
