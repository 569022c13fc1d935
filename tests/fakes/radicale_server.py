"""A real Radicale CalDAV server on a free 127.0.0.1 port, for tests.

Radicale's own WSGI application runs in a thread of the test process (no subprocess
start-up per test, and the port comes from the kernel: no free-port race), with
htpasswd authentication and storage in a temporary folder. Nothing is faked: every
request goes through Radicale's real parsing, filters, ETags and sync tokens.

Rights are `authenticated` by default (any logged-in account reads and writes every
calendar), which is how a Coachpass service account is usually set up on a Radicale
server: one account that books for the managers and reads the sellers' busy time.
`owner_only` shows what an account without those rights meets (403).

`FaultyTransport` sits between a client and the real server for fault injection: the
request still reaches Radicale, only the answer is replaced or lost on the way back,
which is exactly what a flaky network does.
"""

from __future__ import annotations

import logging
import shutil
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import radicale
from radicale import config

#: Accounts of every test server: the service account and a second, ordinary user.
USERS: dict[str, str] = {"coachpass": "s3cret-for-tests", "alice": "alice-pw"}


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Radicale logs what matters; one line per request would drown test output."""


class RadicaleServer:
    """One running server. `url` ends with `/`; `storage` is the collection root."""

    def __init__(
        self, folder: Path, users: dict[str, str] | None = None, rights: str = "authenticated"
    ) -> None:
        self.folder = folder
        self.users = dict(users or USERS)
        htpasswd = folder / "htpasswd"
        htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        configuration = config.load()
        configuration.update(
            {
                "auth": {
                    "type": "htpasswd",
                    "htpasswd_filename": str(htpasswd),
                    "htpasswd_encryption": "plain",
                    "delay": "0",  # Radicale slows failed logins down; tests need no wait
                },
                "rights": {"type": rights},
                "storage": {"filesystem_folder": str(folder / "collections")},
                "logging": {"level": "warning", "mask_passwords": "True"},
            },
            "coachpass tests",
        )
        self.application = radicale.Application(configuration)
        self._server = make_server(
            "127.0.0.1", 0, self.application, _ThreadingServer, handler_class=_QuietHandler
        )
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="radicale", daemon=True
        )

    @property
    def storage(self) -> Path:
        return self.folder / "collections" / "collection-root"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def collection_folder(self, path: str) -> Path:
        """The folder on disk of a collection given by its path (`/user/cal/`)."""
        return self.storage / path.strip("/")

    def forget_sync_tokens(self, path: str) -> None:
        """Drop the sync-token history of a collection, as Radicale itself does after
        `max_sync_token_age`: every token handed out so far becomes invalid."""
        shutil.rmtree(self.collection_folder(path) / ".Radicale.cache" / "sync-token", True)


@contextmanager
def running_radicale(
    folder: Path, users: dict[str, str] | None = None, rights: str = "authenticated"
) -> Iterator[RadicaleServer]:
    """Start a server in `folder`, answer only once it serves, stop it afterwards."""
    # Radicale logs failed logins as warnings; keep them, but not its INFO chatter.
    logging.getLogger("radicale").setLevel(logging.WARNING)
    server = RadicaleServer(folder, users, rights)
    server.start()
    try:
        _wait_until_serving(server.url)
        yield server
    finally:
        server.stop()


def _wait_until_serving(url: str) -> None:
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        for _ in range(100):
            try:
                client.request("OPTIONS", url)
                return
            except httpx.TransportError:
                threading.Event().wait(0.05)
    raise RuntimeError(f"Radicale did not answer at {url}")


#: A fault: given the request (and the server's answer, after it), answer instead
#: (a response), lose the answer (an exception), or let it pass (None). Used once.
Hook = Callable[[httpx.Request, httpx.Response | None], httpx.Response | Exception | None]


class FaultyTransport(httpx.BaseTransport):
    """Forwards to the real server; `before` may answer instead of the server, `after`
    may replace the server's answer or lose it (return an exception)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.before: list[Hook] = []
        self.after: list[Hook] = []
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        for hook in list(self.before):
            answer = hook(request, None)
            if answer is not None:
                self.before.remove(hook)
                if isinstance(answer, Exception):
                    raise answer
                return answer
        response = self.inner.handle_request(request)
        for hook in list(self.after):
            response.read()
            answer = hook(request, response)
            if answer is not None:
                self.after.remove(hook)
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return response

    def close(self) -> None:
        self.inner.close()
