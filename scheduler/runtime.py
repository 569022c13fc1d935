"""The opened resources of one run: settings, store and connectors.

Commands and jobs get a `Runtime`; the core functions take what they need from it.
Connectors are opened on first use and closed with the runtime.

Fencing: the service sets `Runtime.fence` to its leadership check while it leads.
Every calendar write (`create`, `update`), every mail sent and every store write
then checks first, so an instance that lost leadership stops before its next side
effect, whichever job (or catch-up) it is in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import connectors
from connectors.base import (
    AttendanceAnswer,
    CalendarConnector,
    CalendarRef,
    ChangeSet,
    ConnectorContext,
    EventChange,
    FreeBusy,
    Mailer,
    MeetingQuery,
    NewEvent,
    Result,
)
from scheduler.errors import UserError
from scheduler.model import Month, Organisation, Person, Team
from scheduler.service import metrics
from scheduler.store.store import Store

if TYPE_CHECKING:
    from scheduler.settings.load import Settings


Fence = Callable[[], None]


def _no_fence() -> None:
    return None


class _Observed:
    """Counts one connector call (a batch) by outcome for the metrics."""

    def __init__(self, provider: str, operation: str) -> None:
        self.provider, self.operation = provider, operation

    def __enter__(self) -> None:
        self.started = time.monotonic()

    def __exit__(self, exc_type: Any, _exc: Any, _tb: Any) -> None:
        outcome = "ok" if exc_type is None else exc_type.__name__
        metrics.PROVIDER_CALLS.labels(self.provider, self.operation, outcome).inc()


class FencedConnector:
    """A connector whose writes first check the fence; every call is counted."""

    def __init__(self, inner: CalendarConnector, fence: Callable[[], Fence]) -> None:
        self.inner = inner
        self.name = inner.name
        self._fence = fence

    def busy(self, calendars: Sequence[CalendarRef], start: datetime, end: datetime) -> FreeBusy:
        with _Observed(self.name, "busy"):
            return self.inner.busy(calendars, start, end)

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        self._fence()()
        with _Observed(self.name, "create"):
            return self.inner.create(events)

    def update(self, changes: Sequence[EventChange]) -> list[Result]:
        self._fence()()
        with _Observed(self.name, "update"):
            return self.inner.update(changes)

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        with _Observed(self.name, "changes"):
            return self.inner.changes(organizer, cursor, start, end)

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        with _Observed(self.name, "attendance"):
            return self.inner.attendance(queries)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Provider extras (attendance look-ups and the like) are reads: pass through.
        return getattr(self.inner, name)


class FencedMailer:
    def __init__(self, inner: Mailer, fence: Fence) -> None:
        self.inner = inner
        self._fence = fence

    def send(self, message: EmailMessage) -> str:
        self._fence()
        with _Observed("mail", "send"):
            return self.inner.send(message)

    def __getattr__(self, name: str) -> object:
        # Settings of the mailer (host, timeout, ...) read through, as on FencedConnector.
        return getattr(self.inner, name)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    _connectors: dict[str, CalendarConnector] = field(default_factory=dict)
    _team_index: dict[str, Team] | None = field(default=None, repr=False)
    _person_index: dict[str, Person] | None = field(default=None, repr=False)
    _mailer: Mailer | None = field(default=None, repr=False)

    _fence: Fence = field(default=_no_fence, repr=False)
    # The connectors' "now" (None: the real clock); the CLI sets its own, so a pinned
    # COACHPASS_NOW reaches attendance reads too. Set before the first connector opens.
    clock: Callable[[], datetime] | None = field(default=None, repr=False)
    _open_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """With `migrate=False` nothing connects yet: the service opens a runtime
        while the database may be away and migrates once it answers."""
        return cls(settings, Store.open(settings.store_url, migrate=migrate))

    @property
    def fence(self) -> Fence:
        return self._fence

    @fence.setter
    def fence(self, check: Fence | None) -> None:
        """Install (or with None remove) the check run before every side effect."""
        self._fence = check or _no_fence
        self.store.fence = check

    @property
    def org(self) -> Organisation:
        return self.settings.organisation

    def month_of(self, now: datetime) -> Month:
        """The month it is at `now` where the organisation is: at 07:00 on the 1st in
        Sydney it is already the new month, though UTC still has the old one."""
        return Month.of(now.astimezone(ZoneInfo(self.org.timezone)))

    def connector(self, name: str) -> CalendarConnector:
        # Booking's I/O pool asks from several threads: a connector is opened once.
        with self._open_lock:
            return self._open_connector(name)

    def _open_connector(self, name: str) -> CalendarConnector:
        if name not in self._connectors:
            options = self.settings.connectors.get(name)
            if options is None:
                raise UserError(
                    f"{self.settings.source}: connector {name!r} is used but not configured "
                    f"under 'connectors:'"
                )
            context = ConnectorContext(
                base_dir=self.settings.base_dir,
                outbox=self.settings.outbox,
                organisation=self.org.name,
                clock=self.clock,
            )
            opened = connectors.open_connector(name, options, context)
            # The fence is looked up at call time: it may be installed after the
            # connector was opened (the service takes leadership later).
            self._connectors[name] = FencedConnector(opened, lambda: self._fence)
        return self._connectors[name]

    def mailer(self) -> Mailer:
        """The report mailer `mail.backend` chose, opened once and closed with the runtime."""
        if self._mailer is None:
            self._mailer = self._open_mailer()
        return self._mailer

    def _open_mailer(self) -> Mailer:
        from connectors.base import resolve_secret
        from connectors.mail import OutboxMailer, SmtpMailer
        from connectors.mailers import open_report_mailer

        mail = self.settings.mail
        if mail.backend in ("graph", "gmail"):
            context = ConnectorContext(base_dir=self.settings.base_dir, organisation=self.org.name)
            return FencedMailer(
                open_report_mailer(mail.backend, mail.provider_options, context),
                lambda: self._fence(),
            )
        if mail.backend == "outbox" or not mail.smtp_host:
            return FencedMailer(OutboxMailer(mail.outbox), lambda: self._fence())
        options = {
            "password_env": mail.smtp_password_env,
            "password_file": str(mail.smtp_password_file) if mail.smtp_password_file else None,
        }
        password = resolve_secret(options, "password", required=bool(mail.smtp_username))
        return FencedMailer(
            SmtpMailer(
                mail.smtp_host,
                mail.smtp_port,
                security=mail.smtp_security,
                username=mail.smtp_username,
                password=password,
                timeout=mail.smtp_timeout,
            ),
            lambda: self._fence(),
        )

    def mailer_description(self) -> str:
        """Where reports go, for messages: never a secret."""
        mail = self.settings.mail
        sender = mail.provider_options.get("sender", "")
        if mail.backend == "graph":
            return f"Microsoft Graph sendMail from {sender}"
        if mail.backend == "gmail":
            return f"the Gmail API from {sender}"
        if mail.backend == "smtp" and mail.smtp_host:
            return f"SMTP server {mail.smtp_host}:{mail.smtp_port}"
        return f"outbox {mail.outbox}"

    def team_of(self, team_id: str) -> Team | None:
        return self._teams().get(team_id)

    def person(self, person_id: str) -> Person | None:
        return self._people().get(person_id)

    # Booking and reconcile look people up once per session: with 10,000 sellers a
    # scan per look-up is quadratic. Settings are immutable, so index them once.
    def _teams(self) -> dict[str, Team]:
        if self._team_index is None:
            self._team_index = {t.id: t for t in self.org.teams}
        return self._team_index

    def _people(self) -> dict[str, Person]:
        if self._person_index is None:
            self._person_index = {p.id: p for p in self.org.people()}
        return self._person_index

    def close(self) -> None:
        close = getattr(self._mailer, "close", None)
        if close is not None:
            close()
        self._mailer = None
        for conn in self._connectors.values():
            conn.close()
        self._connectors.clear()
        self.store.close()
