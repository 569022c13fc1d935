"""The manager's page on the standard library's threaded WSGI server, in a daemon
thread of `coachpass serve` (as the health endpoints are).

Why no framework: the page is one GET and two url-encoded POSTs. `urllib.parse`
reads such forms exactly and `http.cookies` the one cookie; Starlette + uvicorn +
python-multipart would add four packages (and an event loop beside APScheduler's
threads) for what this module does in a few lines. Put TLS (and a public name) in
front of it with the reverse proxy every deployment has.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scheduler.errors import UserError
from scheduler.runtime import Runtime
from scheduler.service.http import parse_listen
from scheduler.store.store import Store
from scheduler.web.app import PageApp, redact
from scheduler.web.keys import signer as load_signer

log = logging.getLogger("coachpass.web")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Handler(WSGIRequestHandler):
    timeout = 30  # a client that stalls mid-request does not hold a thread for ever

    def log_message(self, format: str, *args: Any) -> None:
        # Never the token: the request line carries it.
        log.debug("%s %s", self.client_address[0], redact(format % args))

    def get_stderr(self) -> Any:  # wsgiref prints tracebacks there; ours are logged
        return _LogStream()


class _LogStream:
    def write(self, text: str) -> None:
        if text.strip():
            log.error("%s", redact(text.rstrip()))

    def flush(self) -> None:
        return None


class PageServer:
    """The page on `web.listen`; `close()` stops it and closes its store."""

    def __init__(
        self,
        rt: Runtime,
        listen: str | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        web = rt.settings.web
        if web is None:
            raise UserError("the manager's page needs a `web:` block in the config")
        address = parse_listen(
            listen if listen is not None else web.listen,
            "serve --web-listen" if listen is not None else "web.listen",
        )
        if address is None:
            raise UserError("web.listen is empty: give host:port, e.g. 127.0.0.1:8090")
        signer = load_signer(web)
        # Its own store, unfenced: a standby instance serves the page too, and the
        # page's writes (a mark, a request) are compare-and-set rows, not side effects
        # the leader must be the only one to make.
        self._runtime = Runtime(rt.settings, Store.open(rt.store.url, migrate=False))
        try:
            self.server = make_server(
                address[0],
                address[1],
                PageApp(self._runtime, signer, clock=clock),
                server_class=_ThreadingWSGIServer,
                handler_class=_Handler,
            )
        except OSError as exc:
            self._runtime.close()
            raise UserError(
                f"cannot listen on {address[0]}:{address[1]} for the manager's page "
                f"({exc.strerror}): set web.listen (or serve --web-listen) to a free port"
            ) from None
        self.address = self.server.server_address[:2]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="coachpass-web", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._runtime.close()
