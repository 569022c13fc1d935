"""A CONNECT proxy on 127.0.0.1: counts what goes through it, tunnels or refuses.

Both cloud clients tunnel through an HTTP proxy with CONNECT (httplib2 for Google
for plain and TLS targets alike, httpx for https), so this is all a corporate proxy
has to be for the tests: `targets` lists each `host:port` asked for.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Handler(socketserver.StreamRequestHandler):
    proxy: ConnectProxy

    def handle(self) -> None:
        line = self.rfile.readline(65536).decode("latin-1")
        while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
            pass  # the rest of the CONNECT request's headers
        method, _, rest = line.partition(" ")
        target = rest.split(" ", 1)[0]
        self.proxy.record(target)
        if method != "CONNECT" or self.proxy.refuse:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((self.proxy.route.get(host, host), int(port)))
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        _pipe(self.connection, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    with b:
        while True:
            ready, _, _ = select.select([a, b], [], [], 30)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)


class ConnectProxy:
    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.route: dict[str, str] = {}  # host -> where it really is (a fake's loopback)
        self.targets: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            pass

        Handler.proxy = proxy
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def record(self, target: str) -> None:
        with self._lock:
            self.targets.append(target)


@contextmanager
def running_proxy(*, refuse: bool = False) -> Iterator[ConnectProxy]:
    proxy = ConnectProxy(refuse=refuse)
    proxy._thread.start()
    try:
        yield proxy
    finally:
        proxy._server.shutdown()
        proxy._server.server_close()
