"""The report mailer a config chose (`mail.backend`), one module above the mailers so
none of them imports another: SMTP and outbox (`connectors.mail`), Microsoft Graph
sendMail (`connectors.outlook.mail`), Gmail API (`connectors.google.mail`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import ConnectorContext, Mailer
from connectors.mail import MailError, open_mailer

BACKENDS = ("smtp", "graph", "gmail", "outbox")


def open_report_mailer(
    backend: str,
    options: Mapping[str, Any],
    context: ConnectorContext,
    **provider_kw: Any,
) -> Mailer:
    """`provider_kw` reaches the Graph mailer only (a test's transport)."""
    if backend == "graph":
        from connectors.outlook.mail import GraphMailer

        return GraphMailer(options, context, **provider_kw)
    if backend == "gmail":
        from connectors.google.mail import GmailMailer

        return GmailMailer(options, context)
    if backend in ("smtp", "outbox"):
        return open_mailer(options, context)
    raise MailError(f"mail backend {backend!r} is not one of {', '.join(BACKENDS)}")
