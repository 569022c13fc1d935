"""The opened resources of one run: settings, store and connectors.

Commands and jobs get a `Runtime`; the core functions take what they need from it.
Connectors are opened on first use and closed with the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import connectors
from connectors.base import CalendarConnector, ConnectorContext, Mailer
from scheduler.errors import UserError
from scheduler.model import Month, Organisation, Person, Team
from scheduler.store.store import Store

if TYPE_CHECKING:
    from scheduler.settings.load import Settings


@dataclass
class Runtime:
    settings: Settings
    store: Store
    _connectors: dict[str, CalendarConnector] = field(default_factory=dict)
    _team_index: dict[str, Team] | None = field(default=None, repr=False)
    _person_index: dict[str, Person] | None = field(default=None, repr=False)
    _mailer: Mailer | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        return cls(settings, Store.open(settings.store_url))

    @property
    def org(self) -> Organisation:
        return self.settings.organisation

    def month_of(self, now: datetime) -> Month:
        """The month it is at `now` where the organisation is: at 07:00 on the 1st in
        Sydney it is already the new month, though UTC still has the old one."""
        return Month.of(now.astimezone(ZoneInfo(self.org.timezone)))

    def connector(self, name: str) -> CalendarConnector:
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
            )
            self._connectors[name] = connectors.open_connector(name, options, context)
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
            return open_report_mailer(mail.backend, mail.provider_options, context)
        if mail.backend == "outbox" or not mail.smtp_host:
            return OutboxMailer(mail.outbox)
        options = {
            "password_env": mail.smtp_password_env,
            "password_file": str(mail.smtp_password_file) if mail.smtp_password_file else None,
        }
        password = resolve_secret(options, "password", required=bool(mail.smtp_username))
        return SmtpMailer(
            mail.smtp_host,
            mail.smtp_port,
            security=mail.smtp_security,
            username=mail.smtp_username,
            password=password,
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
