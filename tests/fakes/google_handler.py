"""The HTTP side of the fake Google API: one handler class per server, bound to it.

Answers go out with TCP_NODELAY and keep-alive (HTTP/1.1), as httplib2 expects; a
connection "reset" closes the socket with SO_LINGER 0 so the client sees an RST.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.fakes.google_faults import Fault
from tests.fakes.google_values import ApiError

if TYPE_CHECKING:
    from tests.fakes.google_server import FakeGoogle

TOKEN_PATH = "/token"
BATCH_PATH = "/batch/calendar/v3"


class Reset(Exception):
    """Drop the connection without answering."""


def handler_for(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle and the
        # client's delayed ACK add ~40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _read(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self,
            status: int,
            content_type: str,
            payload: bytes,
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _reset(self) -> None:
            # SO_LINGER 0 makes close() send RST: the client sees a reset connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def _handle(self, method: str) -> None:
            fake._begin()
            try:
                self._serve(method)
            finally:
                fake._end()

        def _serve(self, method: str) -> None:
            raw = self._read()
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = urllib.parse.urlsplit(self.path).path
            delay = fake.faults.delay_for(f"{method} {path}")
            if delay:
                time.sleep(delay)
            if path == TOKEN_PATH and method == "POST":
                fake.count("token")
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                status, body = fake.tokens.issue(form)
                self._send(status, "application/json", json.dumps(body).encode())
                return
            fake.count("api")
            if path == BATCH_PATH and method == "POST":
                fault = fake.faults.fault_for(f"POST {BATCH_PATH}")
                if fault is not None:
                    self._send_error(ApiError(fault.status, fault.reason, fault.message), fault)
                    return
                try:
                    content_type, payload = fake.serve_batch(headers, raw)
                except Reset:
                    self._reset()
                    return
                except ApiError as exc:
                    self._send_error(exc, None)
                    return
                self._send(200, content_type, payload)
                return
            answer = fake.serve_api(method, self.path, headers, raw)
            self._send(
                answer.status, "application/json; charset=UTF-8", answer.payload(), answer.headers
            )

        def _send_error(self, exc: ApiError, fault: Fault | None) -> None:
            extra = None
            if fault is not None and fault.retry_after is not None:
                extra = {"Retry-After": str(fault.retry_after)}
            self._send(exc.status, "application/json", json.dumps(exc.body()).encode(), extra)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler
