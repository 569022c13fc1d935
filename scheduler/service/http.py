"""`/healthz`, `/readyz` and `/metrics` of `coachpass serve`, on a small threaded
HTTP server of the standard library (no web framework for three read-only pages).

- `/healthz`: 200 while the process runs its loop: for a liveness probe.
- `/readyz`: 200 when the database answers and the instance is leader or standby;
  503 otherwise. The JSON body says which, the last run of each job and any report
  send whose outcome is unknown.
- `/metrics`: Prometheus text format (`scheduler.service.metrics`), with the sessions per
  state and the leader/database gauges refreshed at scrape time.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from scheduler.errors import UserError
from scheduler.service import metrics
from scheduler.settings.checks import listen_address
from scheduler.store.notices import NoticeStore
from scheduler.store.store import Store

log = logging.getLogger("coachpass.http")

SESSIONS = Gauge(
    "coachpass_sessions",
    "Sessions of the organisation in the store, by state (read at scrape time).",
    ["state"],
    registry=metrics.REGISTRY,
)


@dataclass
class ServiceState:
    """What the serving loop tells the endpoints; written by one thread, read by many
    (each field is replaced whole, so a reader never sees half an update)."""

    role: str = "starting"  # starting | standby | leader | stopping
    database_problem: str = ""  # why the database could not be reached, "" when it could
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    def set_role(self, role: str) -> None:
        if role != self.role:
            self.role = role
            self.since = datetime.now(UTC)
        metrics.IS_LEADER.set(1 if role == "leader" else 0)


def parse_listen(text: str, what: str = "service.listen") -> tuple[str, int] | None:
    """`host:port` (IPv6 as `[::1]:8080`) -> (host, port); "" or "off" -> None.
    `what` names where the value came from in the message. Port 0 (any free port)
    stays allowed for the health endpoints, as before; the page needs a known one."""
    try:
        return listen_address(text, lowest=0 if what == "service.listen" else 1)
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


def readiness(store: Store, org_id: str, state: ServiceState) -> tuple[int, dict[str, Any]]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {"role": state.role, "role_since": state.since.isoformat()}
    try:
        store.ping()
        body["database"] = "ok"
        metrics.DATABASE_UP.set(1)
        body["last_runs"] = {
            job: {
                "period": row["period"],
                "status": row["status"],
                "started": row["started_at"].isoformat(),
                "finished": row["finished_at"].isoformat() if row["finished_at"] else None,
                "detail": row["detail"],
            }
            for job, row in sorted(store.last_job_runs().items())
        }
        body["reports_unknown_outcome"] = [
            {
                "org": r["org_id"],
                "month": r["month"],
                "recipient": r["recipient"],
                "claimed": r["claimed_at"].isoformat(),
            }
            for r in store.reports_with_unknown_outcome(now=now)
            if r["org_id"] == org_id
        ]
        # Managers' notices claimed and never confirmed: never resent by themselves.
        body["notices_unknown_outcome"] = [
            {
                "session": r["session_key"],
                "kind": r["kind"],
                "manager": r["manager_id"],
                "claimed": r["claimed_at"].isoformat(),
            }
            for r in NoticeStore(store.engine).unsettled(org_id, now=now)
        ]
    except SQLAlchemyError as exc:
        metrics.DATABASE_UP.set(0)
        body["database"] = f"unreachable: {type(getattr(exc, 'orig', exc)).__name__}"
    ready = body["database"] == "ok" and state.role in ("leader", "standby")
    body["ready"] = ready
    return (200 if ready else 503), body


_seen_states: set[str] = set()


def refresh_gauges(store: Store, org_id: str) -> None:
    try:
        counts = store.session_counts(org_id)
    except SQLAlchemyError:
        metrics.DATABASE_UP.set(0)
        return
    metrics.DATABASE_UP.set(1)
    _seen_states.update(counts)
    for state in _seen_states:  # a state that dropped to zero reads 0, not its old value
        SESSIONS.labels(state).set(counts.get(state, 0))


def _handler(store: Store, org_id: str, state: ServiceState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "coachpass"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, "application/json", json.dumps({"alive": True}).encode())
            elif path == "/readyz":
                status, body = readiness(store, org_id, state)
                self._send(status, "application/json", json.dumps(body).encode())
            elif path == "/metrics":
                refresh_gauges(store, org_id)
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.REGISTRY))
            else:
                self._send(404, "text/plain", b"not found: try /healthz, /readyz, /metrics\n")

        def _send(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.client_address[0], *args)

    return Handler


class StatusServer:
    """The endpoints on their own daemon threads; `close()` stops them."""

    def __init__(self, address: tuple[str, int], store: Store, org_id: str, state: ServiceState):
        try:
            self.server = ThreadingHTTPServer(address, _handler(store, org_id, state))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {address[0]}:{address[1]} for /healthz, /readyz and "
                f"/metrics ({exc.strerror}): set service.listen (or serve --listen) to a "
                f"free port, or '' to turn them off"
            ) from None
        self.server.daemon_threads = True
        self.address = self.server.server_address[:2]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="coachpass-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(listen: str, store: Store, org_id: str, state: ServiceState) -> StatusServer | None:
    address = parse_listen(listen)
    return None if address is None else StatusServer(address, store, org_id, state)
