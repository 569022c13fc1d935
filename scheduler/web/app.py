"""The manager's page as a WSGI app (served by `scheduler.web.server`).

    GET  /m/<token>           the session: seller, time, outcome, note, follow-ups
    POST /m/<token>/mark      held or no-show, a note, up to three follow-ups
    POST /m/<token>/new-time  ask for a new time (the leader performs it)

Every request first verifies the token and that it names a session of this
organisation whose manager it was issued to; anything else is the same plain 403,
and nothing is read or written for it. Changes are POST only, with a double-submit
CSRF check (a per-page value = HMAC of the link token and a random nonce in a
SameSite=Strict cookie) and an Origin check, and answer with a redirect (a reload
never posts twice). Every change goes into the session's history with its source.

The page writes only the store (never a calendar), through its own unfenced store:
a standby instance serves it too.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import cookies
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.exc import SQLAlchemyError

from scheduler.errors import UserError
from scheduler.model import SessionRecord, SessionState
from scheduler.report.outcomes import outcome_source
from scheduler.runtime import Runtime
from scheduler.sessions.actions import mark_session, next_booked
from scheduler.sessions.agenda import load_messages
from scheduler.sessions.followups import followup_items
from scheduler.store.notices import DONE, FAILED, NoticeStore
from scheduler.web import forms, page
from scheduler.web.links import PAGE_PATH
from scheduler.web.mails import when_text
from scheduler.web.texts import texts
from scheduler.web.tokens import BadToken, LinkClaims, Signer

log = logging.getLogger("coachpass.web")

COOKIE = "cp_csrf"
MAX_BODY = 16 * 1024
_ROUTE = re.compile(r"^/m/([A-Za-z0-9_.-]{1,600})(/mark|/new-time)?/?$")
_MARKABLE = (SessionState.BOOKED, SessionState.RESCHEDULED, SessionState.HELD, SessionState.NO_SHOW)
StartResponse = Callable[..., Any]


def redact(path: str) -> str:
    """A path fit for a log: the token cut to its first characters."""
    return re.sub(r"(/m/[A-Za-z0-9_-]{6})[A-Za-z0-9_.-]*", r"\1…", path)


class PageApp:
    def __init__(
        self,
        rt: Runtime,
        signer: Signer,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`rt`: a runtime over the page's own, unfenced store (no connector is used)."""
        self.rt = rt
        self.signer = signer
        self.clock = clock
        self.notices = NoticeStore(rt.store.engine)
        web = rt.settings.web
        assert web is not None
        base = urlsplit(web.public_base_url)
        self.origin = f"{base.scheme}://{base.netloc}"
        self.secure = base.scheme == "https"
        # Behind a proxy at https://host/coachpass the app sees /m/..., but links,
        # forms and the cookie must carry the prefix.
        self.prefix = base.path.rstrip("/")
        self.t = texts(rt.org.language)

    # -- WSGI ------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, headers, body = self.handle(environ)
        except SQLAlchemyError as exc:  # the database is away: not a bug, try later
            log.warning("manager's page: the database failed (%s)", type(exc).__name__)
            status, headers, body = self._plain(
                "503 Service Unavailable", self.t["page_title"], self.t["unavailable"]
            )
        except Exception:
            log.exception("manager's page failed on %s", redact(environ.get("PATH_INFO", "")))
            status, headers, body = self._plain("500 Internal Server Error", "Coachpass", "error")
        start_response(status, [*headers, *self._security_headers()])
        return [body]

    def handle(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        match = _ROUTE.match(environ.get("PATH_INFO", ""))
        if match is None:
            return self._plain("404 Not Found", "Coachpass", "not found")
        token, action = match.group(1), match.group(2) or ""
        now = self.clock()
        record = self._authorised(token, now)
        if record is None:
            return self._forbidden()
        if not action:
            if method not in ("GET", "HEAD"):
                return self._plain("405 Method Not Allowed", "Coachpass", "use the form")
            return self._page(environ, token, record, now)
        if method != "POST":
            return self._plain("405 Method Not Allowed", "Coachpass", "use the form")
        fields = self._form(environ)
        if fields is None or not self._csrf_ok(environ, token, fields):
            return self._plain("403 Forbidden", self.t["page_title"], self.t["form_expired"])
        if action == "/mark":
            return self._mark(environ, token, record, fields, now)
        return self._new_time(token, record, now)

    # -- checks ----------------------------------------------------------------

    def _authorised(self, token: str, now: datetime) -> SessionRecord | None:
        try:
            claims: LinkClaims = self.signer.verify(token, now)
        except BadToken as exc:
            log.info("manager's page: refused a link (%s)", exc)
            return None
        record = self.rt.store.get(claims.session_key)
        if record is None or record.org_id != self.rt.org.id:
            log.info("manager's page: refused a link to an unknown session")
            return None
        if record.manager_id != claims.manager_id:
            log.info("manager's page: refused a link for another manager of %s", record.key)
            return None
        return record

    def _form(self, environ: dict[str, Any]) -> dict[str, list[str]] | None:
        ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= MAX_BODY:
            return None
        raw = environ["wsgi.input"].read(length)
        try:
            return parse_qs(
                raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20
            )
        except (UnicodeDecodeError, ValueError):
            return None

    def _csrf_ok(self, environ: dict[str, Any], token: str, fields: dict[str, list[str]]) -> bool:
        origin = environ.get("HTTP_ORIGIN")
        if origin and origin != "null" and origin != self.origin:
            log.info("manager's page: refused a form from origin %s", origin[:100])
            return False
        nonce = self._nonce(environ)
        value = (fields.get("csrf") or [""])[0]
        return nonce is not None and self.signer.csrf_ok(token, nonce, value)

    @staticmethod
    def _nonce(environ: dict[str, Any]) -> str | None:
        jar: cookies.SimpleCookie = cookies.SimpleCookie()
        try:
            jar.load(environ.get("HTTP_COOKIE", ""))
        except cookies.CookieError:
            return None
        morsel = jar.get(COOKIE)
        return morsel.value if morsel is not None and morsel.value else None

    # -- actions ---------------------------------------------------------------

    def _mark(
        self,
        environ: dict[str, Any],
        token: str,
        record: SessionRecord,
        fields: dict[str, list[str]],
        now: datetime,
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        form, errors = forms.read_mark(fields)
        if form is not None:
            try:
                mark_session(
                    self.rt,
                    record.key,
                    SessionState(form.outcome),
                    now=now,
                    note=form.note,
                    followups=form.followups_text,
                    source="web",
                )
            except UserError as exc:
                errors = [str(exc)]
        if errors:
            return self._page(environ, token, record, now, errors=errors, posted=fields, code=400)
        return self._redirect(token, "saved")

    def _new_time(
        self, token: str, record: SessionRecord, now: datetime
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        if not self._can_request(record, now):
            return self._redirect(token, "")
        # The request row first: its key makes a double click (or two tabs) one
        # request. Then the history entry, as a compare-and-set: a session that
        # changed meanwhile (cancelled, moved on) closes the request as not done.
        if not self.notices.request(record.org_id, record.key, record.manager_id, now=now):
            return self._redirect(token, "")
        if not self.rt.store.transition(
            record.key,
            record.state,
            now=now,
            expect={record.state},
            detail="new time asked by manager (web)",
        ):
            self.notices.finish_request(
                record.key, ok=False, detail="the session changed meanwhile", now=now
            )
        return self._redirect(token, "requested")

    def _can_request(self, record: SessionRecord, now: datetime) -> bool:
        return (
            record.state.active
            and record.start is not None
            and record.start > now
            and self.notices.request_of(record.key) is None
        )

    # -- rendering -------------------------------------------------------------

    def _page(
        self,
        environ: dict[str, Any],
        token: str,
        record: SessionRecord,
        now: datetime,
        *,
        errors: list[str] | None = None,
        posted: dict[str, list[str]] | None = None,
        code: int = 200,
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        t = self.t
        rt = self.rt
        manager = rt.person(record.manager_id)
        seller = rt.person(record.seller_id)
        messages = load_messages(rt.settings.templates_dir, rt.org.language)
        zone = manager.timezone if manager else rt.org.timezone
        when = (
            when_text(messages, record.start, record.end, zone)
            if record.start and record.end
            else str(record.month)
        )
        history = rt.store.history(keys=[record.key])
        status = self._status(record, history)
        nonce = self._nonce(environ) or secrets.token_urlsafe(24)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        message = ""
        seller_name = seller.name if seller else record.seller_id
        following = self._next_booked(record)
        # Follow-ups reach an agenda only when the session is booked: say where they go.
        followups_note = (
            t["next_booked"].format(
                seller=seller_name,
                when=when_text(messages, following.start, following.end, zone),
            )
            if following is not None and following.start and following.end
            else ""
        )
        if "saved" in query:
            message = f"{t['saved_only']} {followups_note}" if followups_note else t["saved"]
        elif "requested" in query:
            message = t["requested"]
        request = self.notices.request_of(record.key)
        request_text = ""
        if request is not None:
            if request["status"] == DONE:
                request_text = t["new_time_done"].format(detail=request["detail"])
            elif request["status"] == FAILED:
                request_text = t["new_time_failed"].format(detail=request["detail"])
            else:
                request_text = t["new_time_pending"]
        started = record.start is not None and record.start <= now
        can_mark = record.state in _MARKABLE and started
        followup_values = (
            [f.strip() for f in (posted or {}).get("followup", [])]
            if posted is not None
            else followup_items(record.followups)
        )
        followup_values = (followup_values + [""] * forms.FOLLOWUPS_MAX)[: forms.FOLLOWUPS_MAX]
        body = page.render(
            "session",
            lang=rt.org.language,
            title=t["page_title"],
            t=t,
            message=message,
            errors=errors or [],
            seller=seller_name,
            when=when,
            followups_note=followups_note,
            status=status,
            note=record.note,
            followups=followup_items(record.followups),
            can_mark=can_mark,
            not_yet=record.state in _MARKABLE and not started,
            closed="" if record.state in _MARKABLE else t["closed"].format(state=status.lower()),
            base=self.prefix + PAGE_PATH + token,
            csrf=self.signer.csrf(token, nonce),
            outcome=(posted or {}).get("outcome", [record.state.value])[0],
            note_value=(posted or {}).get("note", [record.note])[0],
            note_max=forms.NOTE_MAX,
            followup_max=forms.FOLLOWUP_MAX,
            followup_count=forms.FOLLOWUPS_MAX,
            followup_values=followup_values,
            request_text=request_text,
            can_request=self._can_request(record, now),
        )
        cookie = (
            f"{COOKIE}={nonce}; Path={self.prefix}{PAGE_PATH}; HttpOnly; SameSite=Strict; "
            f"Max-Age=86400"
        )
        if self.secure:
            cookie += "; Secure"
        status_line = "200 OK" if code == 200 else "400 Bad Request"
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Set-Cookie", cookie)]
        return status_line, headers, body

    def _next_booked(self, record: SessionRecord) -> SessionRecord | None:
        return next_booked(self.rt, record)

    def _status(self, record: SessionRecord, history: list[Any]) -> str:
        """The state in the manager's language; an outcome with how it is known, in
        the report's words (Source: verified by the provider, marked, presumed)."""
        t = self.t
        state = record.state
        if state in (SessionState.HELD, SessionState.NO_SHOW):
            word = t["held"] if state is SessionState.HELD else t["no_show"]
            source = outcome_source(record, history)
            how = t.get(f"source_{source.value}")
            return f"{word} ({how})" if how else word
        return t.get(f"state_{state.value}", state.value)

    def _redirect(self, token: str, flag: str) -> tuple[str, list[tuple[str, str]], bytes]:
        location = self.prefix + PAGE_PATH + token + (f"?{flag}=1" if flag else "")
        return "303 See Other", [("Location", location), ("Content-Type", "text/plain")], b""

    def _forbidden(self) -> tuple[str, list[tuple[str, str]], bytes]:
        return self._plain("403 Forbidden", self.t["page_title"], self.t["forbidden"])

    def _plain(
        self, status: str, title: str, text: str
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        body = page.render("plain", lang=self.rt.org.language, title=title, text=text)
        return status, [("Content-Type", "text/html; charset=utf-8")], body

    @staticmethod
    def _security_headers() -> list[tuple[str, str]]:
        return [
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'",
            ),
        ]
