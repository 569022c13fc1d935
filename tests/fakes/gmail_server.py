"""A fake of the Gmail API's `users.messages.send` on 127.0.0.1, built on the
discovery document the client library uses (gmail.v1.json inside googleapiclient).

From the document it takes the method's path, HTTP method and accepted scopes, and it
checks the request body against the `Message` schema (unknown fields and wrong JSON
types are 400, as Google answers). Tokens come from the same token endpoint as the
Calendar fake (`google_tokens.TokenIssuer`): a service-account JWT, signed by the key
the fake wrote, for a `sub` that is a user of the domain. `userId` must be `me` or the
token's own user. A sent message is decoded from `raw` and kept in `sent` with the
mailbox it went from.

Faults: `statuses` is a queue of HTTP statuses answered instead of sending (e.g. 500,
429); `hang_up` drops the connection after reading one request (a lost answer).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import googleapiclient

from tests.fakes.google_schema import SchemaViolation, _check
from tests.fakes.google_tokens import TokenIssuer

TOKEN_PATH = "/token"


@cache
def gmail_document() -> dict[str, Any]:
    folder = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    doc: dict[str, Any] = json.loads((folder / "gmail.v1.json").read_text(encoding="utf-8"))
    return doc


def _send_method() -> dict[str, Any]:
    method: dict[str, Any] = gmail_document()["resources"]["users"]["resources"]["messages"][
        "methods"
    ]["send"]
    return method


def _path_pattern(path: str) -> re.Pattern[str]:
    """`gmail/v1/users/{userId}/messages/send` -> a regex with a `userId` group."""
    parts = re.split(r"\{(\w+)\}", path)
    regex = "".join(f"(?P<{p}>[^/]+)" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.compile("^/" + regex + "$")


class FakeGmail:
    def __init__(self) -> None:
        self.users: set[str] = set()
        self.sent: list[tuple[str, EmailMessage]] = []  # (mailbox it went from, message)
        self.requests = 0
        self.statuses: list[int] = []
        self.hang_up = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.tokens: TokenIssuer | None = None
        method = _send_method()
        self._pattern = _path_pattern(method["path"])
        self._http_method = method["httpMethod"]
        self._scopes = frozenset(method["scopes"])
        self._request_schema = method["request"]["$ref"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def add_user(self, email: str) -> None:
        self.users.add(email.lower())

    def start(self) -> FakeGmail:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.tokens = TokenIssuer(
            self.url.rstrip("/") + TOKEN_PATH, lambda e: e.lower() in self.users
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def options(self, key_file: Path, **extra: Any) -> dict[str, Any]:
        """GmailMailer options pointing at this fake."""
        return {
            "service_account_file": str(key_file),
            "api_endpoint": self.url,
            "token_uri": self.url.rstrip("/") + TOKEN_PATH,
            "timeout_seconds": 5,
            **extra,
        }

    # -- the one method -------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        path = h.path.split("?", 1)[0]
        assert self.tokens is not None
        if path == TOKEN_PATH:
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            self._answer(h, *self.tokens.issue(form))
            return
        with self._lock:
            self.requests += 1
            if self.hang_up:
                h.close_connection = True
                h.connection.close()
                return
            status = self.statuses.pop(0) if self.statuses else None
        match = self._pattern.match(path)
        if not match or h.command != self._http_method:
            self._error(h, 404, "notFound", f"no method {h.command} {path}")
            return
        grant = self.tokens.grant(h.headers.get("Authorization"))
        if grant is None:
            self._error(h, 401, "authError", "Invalid Credentials")
            return
        if not grant.scopes & self._scopes:
            self._error(h, 403, "insufficientPermissions", "Insufficient Permission")
            return
        user = match.group("userId").lower()
        if user not in ("me", grant.subject):
            self._error(h, 403, "forbidden", "Delegation denied for " + grant.subject)
            return
        if grant.service_account:
            self._error(h, 400, "failedPrecondition", "Precondition check failed.")
            return
        try:
            body = json.loads(raw or b"null")
            _check(gmail_document()["schemas"], {"$ref": self._request_schema}, body, "body")
            mime = base64.urlsafe_b64decode(body["raw"])
        except (ValueError, KeyError, TypeError, SchemaViolation) as exc:
            self._error(h, 400, "invalidArgument", f"Invalid message: {exc}")
            return
        if status is not None:
            self._error(h, status, "backendError" if status >= 500 else "rateLimitExceeded", "")
            return
        message = BytesParser(policy=policy.default).parsebytes(mime)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.sent.append((grant.subject, message))
            n = len(self.sent)
        self._answer(h, 200, {"id": f"m{n:016x}", "threadId": f"t{n:016x}", "labelIds": ["SENT"]})

    def _error(self, h: BaseHTTPRequestHandler, status: int, reason: str, text: str) -> None:
        body = {"error": {"code": status, "message": text, "errors": [{"reason": reason}]}}
        self._answer(h, status, body)

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
