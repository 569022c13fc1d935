"""The HTTP plumbing of the fake Graph: the request handler on 127.0.0.1 and the
httpx transport that sends the fake's https host names to it.

Split from graph_server so that module keeps to what Graph answers.
"""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

import httpx

AUTHORITY_HOST = "login.fake.test"
GRAPH_HOST = "graph.fake.test"


class Served(Protocol):
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]: ...


class Reset(Exception):
    """Drop the connection without an answer."""


class Handler(BaseHTTPRequestHandler):
    graph: Served
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:  # quiet tests
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, extra, payload = self.graph.handle(self.command, self.path, headers, body)
        except Reset:
            self.close_connection = True
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (a "slow" fault): nobody to answer
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = _serve


class LoopbackTransport(httpx.BaseTransport):
    """Sends https://login.fake.test and https://graph.fake.test to the fake's port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in (AUTHORITY_HOST, GRAPH_HOST):
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
