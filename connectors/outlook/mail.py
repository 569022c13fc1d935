"""Reports sent through Microsoft Graph `sendMail`, for organisations without SMTP.

The finished message goes as MIME (base64, `Content-Type: text/plain`, as Graph
documents for sendMail), so the HTML part, the plain-text part, the CSV attachment
and inline charts arrive exactly as built. It is sent from the mailbox named by the
`sender` option (or the message's From), which needs the application permission
Mail.Send (limit it to that mailbox with an Exchange RBAC scope).

Options: those of the outlook connector (tenant_id, client_id, credential, endpoints,
retries) plus `sender`. A send whose answer was lost is not repeated: Graph has no
idempotency key for mail, and a report twice is worse than a report retried by hand.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import httpx

from connectors.base import ConnectorContext, ConnectorUserError
from connectors.mail import MailError, new_message_id
from connectors.outlook.events import user_path
from connectors.outlook.session import open_graph_session


class GraphMailer:
    def __init__(
        self,
        options: Mapping[str, Any],
        context: ConnectorContext,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.sender = str(options.get("sender") or "")
        session = open_graph_session(options, context, transport=transport, sleep=sleep, rng=rng)
        self._client, self.tokens, self.graph = session.client, session.tokens, session.graph

    def send(self, message: EmailMessage) -> str:
        sender = self.sender or parseaddr(str(message.get("From", "")))[1]
        if not sender:
            raise ConnectorUserError("graph mailer: set `sender` (the mailbox reports go from)")
        if message["From"] is None:
            message["From"] = sender
        if message["Message-ID"] is None:
            message["Message-ID"] = new_message_id(sender.rpartition("@")[2])
        message_id = str(message["Message-ID"])
        mime = base64.b64encode(message.as_bytes())
        answer = self.graph.call(
            "POST",
            f"{user_path(sender)}/sendMail",
            mime,
            headers={"Content-Type": "text/plain"},
            idempotent=False,
        )
        if answer.ok:
            return message_id
        if answer.lost or answer.status >= 500 or answer.status == 429:
            raise MailError(
                f"Microsoft Graph did not confirm the report from {sender} "
                f"({answer.error_text()}); it may have been sent: check the mailbox's Sent "
                "Items before sending again",
                code=answer.status or None,
                temporary=True,
                # Lost or 5xx: it may be out, so the report's claim is kept (never sent
                # twice); a 429 that outlasted the retries was certainly not taken.
                may_have_sent=answer.lost or answer.status >= 500,
            )
        if answer.status in (401, 403, 404):
            raise MailError(
                f"graph mailer: mailbox {sender} may not send ({answer.error_text()}): grant "
                "the app Mail.Send and include the mailbox in its Exchange RBAC scope",
                code=answer.status,
            )
        raise MailError(
            f"graph mailer: sendMail from {sender} refused: {answer.error_text()}",
            code=answer.status,
        )

    def close(self) -> None:
        self._client.close()
