"""The whole pipeline through the CLI against the fake Google and Graph servers.

    .venv/bin/python benchmarks/end_to_end.py                          # 100 x 15, both
    .venv/bin/python benchmarks/end_to_end.py --managers 700 --provider google
    .venv/bin/python benchmarks/end_to_end.py --latency-ms 100 --provider outlook
    .venv/bin/python benchmarks/end_to_end.py --provider outlook --no-agenda-file

Each stage is `coachpass --config ... <command>` run in a child process exactly as an
admin runs it (its own interpreter, config load, SQLite store, connector sign-in):

- `plan` (a dry run), `book`, `book` again (nothing left to do), a first `reconcile`
  (full reads that hand out the sync cursors), a quiet `reconcile` (no change
  anywhere), and a `reconcile` after changes: in every 10th team the manager deleted
  one session and a seller declined another (the reconcile rebooks both).

Files: by default every invite carries the agenda and the guidelines as files (no
`guideline_url`), which costs Graph four `$batch` parts per session;
`--no-agenda-file` sets `policy.agenda_file: false` (and the `guideline_url` that
setting needs), one part per session. The header says which was used.

Latency: `--latency-ms` is added to every HTTP request, token requests included (the
Google fake sleeps before answering; Graph requests sleep in the child's transport
before they are sent, since msal needs https names that the loopback transport maps).

Printed per stage: wall time (the child's whole life: interpreter, imports, config),
HTTP requests to the API per manager (a batch is one request) and token requests
apart, the child's exit code and peak RSS; then token requests per organiser over all
stages. Figures only: nothing here asserts a time.
Targets (issue 14, 700 x 15 at 100 ms): book <= 60 s, quiet reconcile <= 20 s, peak
RSS <= 1 GB; requests per manager: book <= 2.0, quiet reconcile <= 1.0; tokens <= 1
per organiser per hour.

The generated Google config keeps tokens in `token_cache_file` (google-tokens.json
beside it), so the stages share each organiser's token as consecutive commands of an
admin do; `--no-token-cache` leaves it out (every command fetches its own).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from connectors.base import SESSION_TAG  # noqa: E402

NOW = "2031-02-20T08:00:00+00:00"
MONTH = "2031-03"
LATENCY_ENV = "COACHPASS_E2E_LATENCY_MS"
GRAPH_PORT_ENV = "COACHPASS_E2E_GRAPH_PORT"
#: A path prefix: each stage writes a cProfile of its main thread to
#: `<prefix>.<provider>.<stage>.prof`, stage as `book`, `book-again`, `reconcile-first`,
#: `reconcile-quiet`, `reconcile-140` (workers' time shows as waiting for results).
PROFILE_ENV = "COACHPASS_E2E_PROFILE"
ZONES = ("Europe/Stockholm", "Europe/London", "America/New_York")
GUIDELINE_URL = "https://intranet.example.com/coaching-guidelines"


def email(pid: str) -> str:
    return f"{pid}@example.com"


def teams(managers: int, sellers: int) -> dict[str, list[str]]:
    return {f"m{m}": [f"m{m}s{s}" for s in range(sellers)] for m in range(managers)}


def person(pid: str, zone: str) -> dict[str, Any]:
    return {"id": pid, "name": pid.upper(), "email": email(pid), "timezone": zone, "country": "SE"}


def write_config(
    folder: Path,
    provider: str,
    connector: dict[str, Any],
    org: dict[str, list[str]],
    agenda_file: bool = True,
) -> Path:
    organisation = {
        "id": "bench",
        "name": "Bench",
        "timezone": "Europe/Stockholm",
        "country": "SE",
        "language": "en",
    }
    policy: dict[str, Any] = {
        "session_minutes": 45,
        "buffer_minutes": 10,
        "lead_time_hours": 24,
        "working_hours": {"start": "09:00", "end": "17:00"},
    }
    if not agenda_file:
        # No files: the guidelines are reached by their link (the setting needs one).
        organisation["guideline_url"] = GUIDELINE_URL
        policy["agenda_file"] = False
    config = {
        "organisation": organisation,
        "defaults": {"connector": provider},
        "policy": policy,
        "teams": [
            {
                "id": f"t-{m}",
                "name": f"Team {m}",
                # Every third team works from another zone: the planner intersects
                # working hours across zones as it does for a real organisation.
                "manager": person(m, ZONES[n % 3]),
                "sellers": [person(s, ZONES[n % 3]) for s in sellers],
            }
            for n, (m, sellers) in enumerate(org.items())
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
class Stage:
    name: str
    seconds: float
    api: int
    tokens: int
    code: int
    rss_mb: float
    last_line: str


class Provider:
    name = ""
    workers: int | None = None  # the connector's `workers` option; None: its default
    token_cache = True  # Google: tokens shared between the stages' processes
    agenda_file = True  # policy.agenda_file of the generated config

    def start(self, org: dict[str, list[str]], latency: float, folder: Path) -> Path:
        raise NotImplementedError

    def stop(self) -> None: ...
    def reset_counts(self) -> None: ...
    def counts(self) -> tuple[int, int]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def change(self, org: dict[str, list[str]]) -> int:
        """Delete one session and decline another in every 10th team; how many."""
        raise NotImplementedError


def _sessions(events: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    return sorted(events)


class GoogleProvider(Provider):
    name = "google"

    def start(self, org: dict[str, list[str]], latency: float, folder: Path) -> Path:
        from tests.fakes.google_faults import FaultPlan
        from tests.fakes.google_harness import connector_options
        from tests.fakes.google_server import FakeGoogle

        self.fake = FakeGoogle()
        self.fake._httpd.handle_error = lambda *_args: None  # type: ignore[method-assign]
        self.fake.start()
        for m, sellers in org.items():
            for pid in [m, *sellers]:
                self.fake.add_user(email(pid))
        self.fake.faults = FaultPlan(slow_seconds=latency)
        key_file = self.fake.tokens.service_account_file(folder)
        options = connector_options(self.fake, key_file, page_size=250, timeout_seconds=60)
        if self.workers is not None:
            options["workers"] = self.workers
        if self.token_cache:
            options["token_cache_file"] = "google-tokens.json"
        return write_config(folder, "google", options, org, self.agenda_file)

    def stop(self) -> None:
        self.fake.stop()

    def reset_counts(self) -> None:
        self.fake.reset_stats()

    def counts(self) -> tuple[int, int]:
        return self.fake.stats["api"], self.fake.stats["token"]

    def _keys(self, manager: str) -> list[tuple[str, str]]:
        out = []
        for event in self.fake.store.events(email(manager)):
            key = event.get("extendedProperties", {}).get("private", {}).get(SESSION_TAG)
            if key and event.get("status") != "cancelled":
                out.append((str(event["start"]["dateTime"]), key))
        return sorted(out)

    def change(self, org: dict[str, list[str]]) -> int:
        done = 0
        for m in list(org)[::10]:
            keys = self._keys(m)
            if len(keys) < 2:
                continue
            self.fake.store.delete(email(m), keys[0][1])
            event = next(e for e in self.fake.store.events(email(m)) if e["id"] == keys[1][1])
            seller = event["attendees"][0]["email"]
            self.fake.store.respond(email(m), keys[1][1], seller, "declined")
            done += 2
        return done


class LatencyTransport:
    """The loopback transport to the fake Graph, `seconds` later (see module doc)."""

    def __init__(self, port: int, seconds: float) -> None:
        from tests.fakes.graph_wire import LoopbackTransport

        self.inner = LoopbackTransport(port)
        self.seconds = seconds

    def handle_request(self, request: Any) -> Any:
        time.sleep(self.seconds)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> LatencyTransport:
        return self

    def __exit__(self, *_args: object) -> None:
        self.close()


def route_graph(port: int, seconds: float) -> None:
    """In the child: every OutlookConnector talks to the fake, with latency."""
    import httpx

    from connectors.outlook import connector as outlook

    class Transport(LatencyTransport, httpx.BaseTransport):
        pass

    original = outlook.OutlookConnector.__init__

    def init(self: Any, options: Any, context: Any, **kw: Any) -> None:
        kw.setdefault("transport", Transport(port, seconds))
        original(self, options, context, **kw)

    outlook.OutlookConnector.__init__ = init  # type: ignore[method-assign]


class GraphProvider(Provider):
    name = "outlook"

    def start(self, org: dict[str, list[str]], latency: float, folder: Path) -> Path:
        from tests.fakes.graph_client import SECRET_ENV
        from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

        self.secret = (SECRET_ENV, CLIENT_SECRET)
        self.latency = latency
        mailboxes = [email(p) for m, s in org.items() for p in [m, *s]]
        self.fake = FakeGraph(mailboxes).start()
        assert self.fake._server is not None
        self.fake._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        options = self.fake.options(timeout_seconds=60)
        if self.workers is not None:
            options["workers"] = self.workers
        return write_config(folder, "outlook", options, org, self.agenda_file)

    def stop(self) -> None:
        self.fake.stop()

    def env(self) -> dict[str, str]:
        return {
            GRAPH_PORT_ENV: str(self.fake.port),
            LATENCY_ENV: str(self.latency * 1000),
            self.secret[0]: self.secret[1],
        }

    def reset_counts(self) -> None:
        with self.fake.lock:
            self.fake.counts.clear()

    def counts(self) -> tuple[int, int]:
        with self.fake.lock:
            return self.fake.counts["graph"], self.fake.counts["token"]

    def change(self, org: dict[str, list[str]]) -> int:
        with self.fake.lock:
            by_manager: dict[str, list[tuple[Any, str, str]]] = {}
            for event in self.fake.state.events.values():
                key = next(
                    (v for k, v in event.ext_props.items() if SESSION_TAG.lower() in k.lower()),
                    None,
                )
                if key is None or event.deleted or not event.attendees:
                    continue
                seller = event.attendees[0]["emailAddress"]["address"]
                by_manager.setdefault(event.mailbox, []).append((event.start, key, seller))
        done = 0
        for m in list(org)[::10]:
            items = sorted(by_manager.get(email(m), []))
            if len(items) < 2:
                continue
            self.fake.cancel_by_organiser(items[0][1])
            self.fake.respond(items[1][1], items[1][2], "declined")
            done += 2
        return done


def run_stage(name: str, argv: list[str], folder: Path, provider: Provider) -> Stage:
    env = {**os.environ, **provider.env(), "COACHPASS_NOW": NOW}
    if os.environ.get(PROFILE_ENV):
        # The whole stage name: the three reconciles each get their own file.
        stage = "-".join(name.replace(",", " ").split()[:2])
        env[PROFILE_ENV] = f"{os.environ[PROFILE_ENV]}.{provider.name}.{stage}.prof"
    provider.reset_counts()
    log = folder / f"{name.replace(' ', '-')}.log"
    began = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", *argv],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    api, tokens = provider.counts()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return Stage(
        name,
        seconds,
        api,
        tokens,
        proc.returncode,
        usage.ru_maxrss / 1024,
        lines[0][:90] if lines else "",
    )


def child(argv: list[str]) -> int:
    """Run the CLI as `coachpass` does (with the Graph fake's routing, if any)."""
    if os.environ.get(GRAPH_PORT_ENV):
        seconds = float(os.environ.get(LATENCY_ENV, "0")) / 1000
        route_graph(int(os.environ[GRAPH_PORT_ENV]), seconds)
    from scheduler.cli.main import main

    profile = os.environ.get(PROFILE_ENV)
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if profile:
            profiler.disable()
            profiler.dump_stats(profile)
    return 0


def bench(provider: Provider, managers: int, sellers: int, latency: float) -> list[Stage]:
    org = teams(managers, sellers)
    folder = Path(tempfile.mkdtemp(prefix=f"coachpass-e2e-{provider.name}-"))
    config = provider.start(org, latency, folder)
    base = ["--config", str(config)]
    stages: list[Stage] = []
    try:
        stages.append(run_stage("plan", [*base, "plan", "--month", MONTH], folder, provider))
        stages.append(run_stage("book", [*base, "book", "--month", MONTH], folder, provider))
        stages.append(run_stage("book again", [*base, "book", "--month", MONTH], folder, provider))
        stages.append(run_stage("reconcile, first", [*base, "reconcile"], folder, provider))
        stages.append(run_stage("reconcile, quiet", [*base, "reconcile"], folder, provider))
        changed = provider.change(org)
        stages.append(
            run_stage(f"reconcile, {changed} changes", [*base, "reconcile"], folder, provider)
        )
    finally:
        provider.stop()
    ms = latency * 1000
    workers = provider.workers or "default"
    cache = ", token cache off" if provider.name == "google" and not provider.token_cache else ""
    files = (
        "agenda + guidelines files (policy.agenda_file: true)"
        if provider.agenda_file
        else "no files (policy.agenda_file: false, guideline_url set)"
    )
    print(
        f"\n{provider.name}: {managers} managers x {sellers} sellers, latency {ms:.0f} ms, "
        f"workers {workers}{cache}, {files}"
    )
    print(f"(logs in {folder})")
    print(
        f"{'stage':26} {'seconds':>8} {'requests':>9} {'per mgr':>8} {'tokens':>7} "
        f"{'exit':>5} {'RSS MB':>7}  first line of output"
    )
    for s in stages:
        print(
            f"{s.name:26} {s.seconds:8.1f} {s.api:9d} {s.api / managers:8.2f} {s.tokens:7d} "
            f"{s.code:5d} {s.rss_mb:7.0f}  {s.last_line}"
        )
    tokens = sum(s.tokens for s in stages)
    seconds = sum(s.seconds for s in stages)
    print(
        f"token requests over all stages ({seconds:.0f} s): {tokens}, "
        f"{tokens / managers:.2f} per organiser"
    )
    return stages


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--managers", type=int, default=100)
    parser.add_argument("--sellers", type=int, default=15)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--provider", choices=["google", "outlook", "both"], default="both")
    parser.add_argument(
        "--workers", type=int, default=None, help="the connector's `workers` (default: its own)"
    )
    parser.add_argument(
        "--no-token-cache",
        action="store_true",
        help="Google without token_cache_file: every stage fetches its own tokens",
    )
    parser.add_argument(
        "--no-agenda-file",
        action="store_true",
        help="set policy.agenda_file: false (and a guideline_url) in the generated config",
    )
    args = parser.parse_args()
    chosen: list[Provider] = []
    if args.provider in ("google", "both"):
        chosen.append(GoogleProvider())
    if args.provider in ("outlook", "both"):
        chosen.append(GraphProvider())
    for provider in chosen:
        provider.workers = args.workers
        provider.token_cache = not args.no_token_cache
        provider.agenda_file = not args.no_agenda_file
        bench(provider, args.managers, args.sellers, args.latency_ms / 1000)
    print("\ntargets at 700 x 15, 100 ms: book <= 60 s, quiet reconcile <= 20 s, RSS <= 1 GB;")
    print("requests per manager: book <= 2.0, quiet reconcile <= 1.0 (tokens apart);")
    print("tokens <= 1 per organiser per hour")


if __name__ == "__main__":
    main()
