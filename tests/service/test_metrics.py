"""Provider traffic reaches the metrics: a real Graph HTTP client against a small
server on 127.0.0.1 that throttles once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from connectors.outlook.http import GraphHttp
from scheduler.service import metrics


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def throttling_server() -> Iterator[str]:
    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            calls.append(self.path)
            if len(calls) == 1:
                self.send_response(429)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"value": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_graph_requests_retries_and_429s_are_counted(throttling_server: str) -> None:
    before = {
        kind: _value(f"coachpass_provider_{kind}_total", provider="outlook")
        for kind in ("requests", "retries", "throttled")
    }
    with httpx.Client() as client:
        graph = GraphHttp(client, throttling_server, lambda: "token", sleep=lambda _s: None)
        answer = graph.call("GET", "/users/x/events")
    assert answer.status == 200
    after = {
        kind: _value(f"coachpass_provider_{kind}_total", provider="outlook")
        for kind in ("requests", "retries", "throttled")
    }
    assert after["requests"] - before["requests"] == 2
    assert after["retries"] - before["retries"] == 1
    assert after["throttled"] - before["throttled"] == 1
