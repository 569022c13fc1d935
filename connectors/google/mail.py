"""Reports sent through the Gmail API (`users.messages.send`), for Google Workspace
organisations without an SMTP relay for applications.

The finished message goes whole as `raw` (base64url MIME), so the HTML and text parts
and the CSV attachments arrive exactly as built. A service account with domain-wide
delegation acts as the sender mailbox (`with_subject`) with the one scope
`https://www.googleapis.com/auth/gmail.send`: it can send as that mailbox and read
nothing. Grant that scope to the service account's client id in the Admin console.

Options: `sender` (the mailbox, default: the report's From), `service_account_file` or
`service_account_env` (the key; never logged), `api_endpoint` and `token_uri` (tests,
private endpoints), `timeout_seconds`. With `mail.backend: gmail` they default to the
options of the google connector.

A send is never repeated here: Gmail has no idempotency key for mail. When the answer
is lost or Google answers 5xx, the message may have gone out: the error says so
(`may_have_sent`), and the report's claim in the store is kept so nobody gets it twice.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import httplib2

from connectors.base import ConnectorContext, ConnectorUserError, resolve_secret
from connectors.mail import MailError, new_message_id

GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
DEFAULT_ENDPOINT = "https://gmail.googleapis.com/"


class GmailMailer:
    name = "gmail"

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext) -> None:
        from google.oauth2 import service_account
        from googleapiclient.discovery import build

        self.sender = str(options.get("sender") or "").strip()
        if not (options.get("service_account_file") or options.get("service_account_env")):
            raise ConnectorUserError(
                "gmail mailer: set service_account_file (or service_account_env) of a service "
                "account with domain-wide delegation for the gmail.send scope"
            )
        if options.get("service_account_file"):
            # Relative to the config's folder, like every path in the config.
            key_path = Path(str(options["service_account_file"])).expanduser()
            options = {**options, "service_account_file": str(context.base_dir / key_path)}
        text = resolve_secret(options, "service_account")
        where = options.get("service_account_file") or f"${options.get('service_account_env')}"
        try:
            info = json.loads(text or "")
            creds = service_account.Credentials.from_service_account_info(
                info, scopes=[GMAIL_SEND_SCOPE]
            )
        except (ValueError, KeyError) as exc:
            raise ConnectorUserError(
                f"gmail mailer: {where} is not a service account key file ({type(exc).__name__})"
            ) from None
        if options.get("token_uri"):
            creds = creds.with_token_uri(str(options["token_uri"]))
        self._creds = creds
        self.account = str(creds.service_account_email)
        root = str(options.get("api_endpoint") or DEFAULT_ENDPOINT)
        self._root = root if root.endswith("/") else root + "/"
        self._timeout = float(options.get("timeout_seconds", 60))
        # The discovery document shipped in the package: no network call to build.
        self._service = build(
            "gmail",
            "v1",
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self._root},
            credentials=creds,
        )

    def __repr__(self) -> str:
        return f"GmailMailer(sender={self.sender!r}, account={self.account!r})"

    def send(self, message: EmailMessage) -> str:
        import google_auth_httplib2
        from google.auth import exceptions as auth_exceptions
        from googleapiclient.errors import HttpError

        sender = self.sender or parseaddr(str(message.get("From", "")))[1]
        if not sender:
            raise ConnectorUserError("gmail mailer: set `sender` (the mailbox reports go from)")
        if message["From"] is None:
            message["From"] = sender
        if message["Message-ID"] is None:
            message["Message-ID"] = new_message_id(sender.rpartition("@")[2])
        message_id = str(message["Message-ID"])
        raw = base64.urlsafe_b64encode(bytes(message)).decode("ascii")
        http = google_auth_httplib2.AuthorizedHttp(
            self._creds.with_subject(sender), http=httplib2.Http(timeout=self._timeout)
        )
        request = self._service.users().messages().send(userId="me", body={"raw": raw})
        try:
            request.execute(http=http, num_retries=0)
        except auth_exceptions.RefreshError:
            # Google's reason text is not shown: it can echo the assertion's claims.
            raise MailError(
                f"gmail mailer: Google gave no token to send as {sender} (service account "
                f"{self.account}); check that {sender} is a user of the domain and that the "
                f"service account's client id has domain-wide delegation for {GMAIL_SEND_SCOPE}"
            ) from None
        except HttpError as exc:
            raise _http_error(sender, exc) from None
        except (TimeoutError, OSError, httplib2.HttpLib2Error) as exc:
            raise MailError(
                f"gmail mailer: no answer from the Gmail API for the report from {sender} "
                f"({type(exc).__name__}); it may have been sent: check the mailbox's Sent "
                "folder before sending again",
                temporary=True,
                may_have_sent=True,
            ) from None
        return message_id

    def close(self) -> None:
        self._service.close()


def _http_error(sender: str, exc: Any) -> MailError:
    status = int(getattr(exc.resp, "status", 0) or 0)
    reason = str(exc.reason or "")[:200] if hasattr(exc, "reason") else ""
    if status in (401, 403):
        return MailError(
            f"gmail mailer: Gmail refused the report from {sender} ({status} {reason}); "
            f"grant the service account's client id domain-wide delegation for "
            f"{GMAIL_SEND_SCOPE}, and make sure {sender} has Gmail",
            code=status,
        )
    if status == 429:
        return MailError(
            f"gmail mailer: Gmail's sending limit for {sender} was reached (429); "
            "the report is sent on the next run",
            code=status,
            temporary=True,
        )
    if status >= 500:
        return MailError(
            f"gmail mailer: Gmail answered {status} for the report from {sender}; it may have "
            "been sent: check the mailbox's Sent folder before sending again",
            code=status,
            temporary=True,
            may_have_sent=True,
        )
    return MailError(f"gmail mailer: Gmail refused the report from {sender}: {status} {reason}")
