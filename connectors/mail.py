"""Mailers for the monthly report: SMTP, or an outbox folder of `.eml` files.

Both implement `connectors.base.Mailer`: `send(message) -> Message-ID`, setting a
Message-ID when the message has none. Neither keeps any "sent" state: send-once
bookkeeping belongs to the store, which claims (org, month, recipient) before calling
`send` and releases the claim when `send` raises.

Errors are `MailError` (a `ConnectorUserError`): the message names the server
(host:port) and the SMTP reply code and text, never the password.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import secrets
import smtplib
import ssl
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, parseaddr
from pathlib import Path
from typing import Any, Literal

from connectors.base import ConnectorContext, ConnectorUserError, resolve_secret

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
SECURITY_MODES: tuple[str, ...] = ("starttls", "ssl", "none")
DEFAULT_PORTS: Mapping[str, int] = {"starttls": 587, "ssl": 465, "none": 25}


class MailError(ConnectorUserError):
    """The report could not be handed over. `code` is the SMTP reply code when the
    server answered; `temporary` is True for 4xx replies and network faults, where
    trying again later is the fix."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        temporary: bool = False,
        may_have_sent: bool = False,
    ):
        super().__init__(message)
        self.code = code
        self.temporary = temporary
        # True when the message data may have reached the server before the fault
        # (a hang-up or time-out during DATA): sending again could duplicate it.
        self.may_have_sent = may_have_sent


#: The policy every message is built with: CRLF line ends (RFC 5322, and RFC 5545 for
#: the text/calendar parts), and headers set with `set_text_header` /
#: `set_address_header` written exactly as encoded there. The library's own folding
#: of non-ASCII headers is not used: it loses or adds spaces between encoded words
#: (an Arabic or emoji name split across a fold came back changed).
MAIL_POLICY = email_policy.SMTP.clone(refold_source="none")

#: UTF-8 bytes per encoded word: `=?utf-8?b?` + 60 base64 characters + `?=` is 72,
#: within the 75 of RFC 2047, and `Subject: ` plus one word stays within 78.
_EW_BYTES = 45


def new_message() -> EmailMessage:
    """An empty message built with `MAIL_POLICY`."""
    return EmailMessage(policy=MAIL_POLICY)


#: Display names written as they are (quoted by `formataddr` when needed); anything
#: else is encoded, because Python's address parser misreads quoted specials.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9'.-]+(?: [A-Za-z0-9'.-]+)*$")


def _fold_ascii(name: str, text: str) -> str | None:
    """Plain ASCII folded at single spaces (unfolding gives `text` back exactly), or
    None when it cannot be: an encoded-word look-alike, or a word too long to fold."""
    if not text.isascii() or "=?" in text or text != text.strip(" "):
        return None
    lines = [""]
    width = len(name) + 2
    for index, word in enumerate(text.split(" ")):
        piece = word if index == 0 else " " + word
        if len(piece) + width > 78:
            if not word or len(piece) > 77:
                return None  # a run of spaces or a long word: no safe place to fold
            lines.append("")
            width = 0
        lines[-1] += piece
        width += len(piece)
    return "\n".join(lines)


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def _utf8_chunks(text: str, limit: int) -> list[bytes]:
    """`text` as UTF-8 pieces of at most `limit` bytes, never splitting a character
    (RFC 2047 requires each encoded word to hold whole characters)."""
    chunks: list[bytes] = []
    current = b""
    for char in text:
        encoded = char.encode("utf-8")
        if current and len(current) + len(encoded) > limit:
            chunks.append(current)
            current = b""
        current += encoded
    if current:
        chunks.append(current)
    return chunks


def _check_header_text(name: str, text: str) -> None:
    if any(c in text for c in "\r\n\x00"):
        # Settings refuse control characters; this is the last line of defence
        # against a header injected through a name.
        raise ValueError(f"{name} header text holds a line break or NUL")


def set_text_header(message: EmailMessage, name: str, text: str) -> None:
    """Set an unstructured header (Subject) so that every reader gets `text` back:
    plain ASCII folded at spaces; anything else as whole-character encoded words of
    at most 75 characters, one per folded line (the fold between two encoded words
    is not part of the text)."""
    value = text_header_value(name, text)
    del message[name]
    message.set_raw(name, value)


def text_header_value(name: str, text: str) -> str:
    """The value `set_text_header` sets, folded with "\\n " (for writers of raw
    messages, such as the local connector's invitations)."""
    _check_header_text(name, text)
    folded = _fold_ascii(name, text)
    if folded is None:
        folded = "\n ".join(_encoded_word(c) for c in _utf8_chunks(text, _EW_BYTES))
    return folded


def set_address_header(message: EmailMessage, name: str, display_name: str, address: str) -> None:
    """Set From/To to `display_name <address>` so the name reads back unchanged.

    A display name other than plain words is written as ONE encoded word, even when
    it is longer than RFC 2047's 75 characters: split into several, Python's address
    parser (and so any tool built on it) puts a space between the pieces, and
    quoted specials trip it up. Mail clients read long encoded words; a name would
    need over 600 bytes to near the 998-byte line limit.
    """
    value = address_header_value(name, display_name, address)
    del message[name]
    message.set_raw(name, value)


def address_header_value(name: str, display_name: str, address: str) -> str:
    """The value `set_address_header` sets (see `text_header_value`)."""
    _check_header_text(name, display_name + address)
    if not display_name:
        return address
    if _PLAIN_NAME.match(display_name) and len(display_name) + len(address) < 70:
        return formataddr((display_name, address))
    return f"{_encoded_word(display_name.encode('utf-8'))}\n <{address}>"


def new_message_id(domain: str) -> str:
    """A fresh, short Message-ID. Short on purpose: email.utils.make_msgid's ids are
    long enough that the header gets folded, and Python's parser then reads the value
    back with a leading space. The explicit domain also avoids make_msgid's getfqdn()."""
    return f"<cp.{secrets.token_hex(10)}@{domain}>"


def _ensure_message_id(message: EmailMessage) -> str:
    if message["Message-ID"] is None:
        sender = parseaddr(str(message.get("From", "")))[1]
        domain = sender.rpartition("@")[2] or "coachpass.invalid"
        message["Message-ID"] = new_message_id(domain)
    return str(message["Message-ID"])


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]


class SmtpMailer:
    """Send through an SMTP server (submission with STARTTLS by default).

    `ssl_context` lets a deployment (or a test) trust a private CA; by default the
    system's trust store verifies the server's certificate and host name.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Security | str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise MailError(
                f"SMTP security {security!r} for {host} is not one of {', '.join(SECURITY_MODES)}"
            )
        if username and password is None:
            raise MailError(f"SMTP user {username} at {host} has no password configured")
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        #: Recipients the server refused in the last `send` (the others got it).
        self.refused: dict[str, tuple[int, str]] = {}

    def __repr__(self) -> str:  # never show the password, even in a debugger or log
        return f"SmtpMailer({self.host}:{self.port}, security={self.security!r})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self._local_hostname,
                timeout=self.timeout,
                context=self._context(),
            )
        smtp = smtplib.SMTP(
            self.host, self.port, local_hostname=self._local_hostname, timeout=self.timeout
        )
        try:
            if self.security == "starttls":
                smtp.ehlo()
                # Raises SMTPNotSupportedError when the server does not offer it: we
                # never fall back to sending the password in clear text.
                smtp.starttls(context=self._context())
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> str:
        message_id = _ensure_message_id(message)
        recipients = [
            addr
            for _, addr in getaddresses(
                [str(v) for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])]
            )
            if addr
        ]
        if not recipients:
            raise MailError(f"message {message_id} has no recipients (To/Cc/Bcc)")
        data_started = False
        try:
            smtp = self._connect()
            try:
                if self.username:
                    smtp.login(self.username, self._password or "")
                data_started = True
                refused = smtp.send_message(message, to_addrs=recipients)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"SMTP server {self.where} refused the login of {self.username}: "
                f"{exc.smtp_code} {_reply_text(exc.smtp_error)}; check the user and the"
                " password named in the mail settings",
                code=exc.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            # Only STARTTLS and AUTH can be missing here; we never go on without them.
            raise MailError(
                f"SMTP server {self.where} refused to go on: {str(exc).rstrip('.')}; the mail"
                " security setting (starttls/ssl/none) or the username may not fit this server",
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(
                f"{addr} ({code} {_reply_text(text)})"
                for addr, (code, text) in exc.recipients.items()
            )
            codes_only = [code for code, _ in exc.recipients.values()]
            raise MailError(
                f"SMTP server {self.where} refused every recipient: {codes}",
                code=codes_only[0] if codes_only else None,
                temporary=all(400 <= c < 500 for c in codes_only),
            ) from None
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, or any other reply the server ended on.
            raise MailError(
                f"SMTP server {self.where} answered {exc.smtp_code} {_reply_text(exc.smtp_error)}",
                code=exc.smtp_code,
                temporary=400 <= exc.smtp_code < 500,
            ) from None
        except ssl.SSLError as exc:
            raise MailError(
                f"TLS with SMTP server {self.where} failed ({exc.reason or exc}): check the"
                " host name, port and mail security setting",
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused, name not found, timeout, server hung up.
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, TimeoutError):
                detail = f"no answer within {self.timeout:g} s"
            raise MailError(
                f"cannot deliver to SMTP server {self.where}: {detail or type(exc).__name__}",
                temporary=True,
                may_have_sent=data_started,
            ) from None
        self.refused = {addr: (code, _reply_text(text)) for addr, (code, text) in refused.items()}
        if self.refused:
            log.warning(
                "SMTP server %s refused some recipients of %s: %s",
                self.where,
                message_id,
                ", ".join(f"{a} ({c})" for a, (c, _) in self.refused.items()),
            )
        return message_id


_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, limit: int = 60) -> str:
    """File-name-safe, lower-case ASCII form of a subject ("Coachningsrapport 2026-12 —
    Åsa AB" -> "coachningsrapport-2026-12-asa-ab")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG.sub("-", ascii_text.lower()).strip("-")[:limit].rstrip("-") or "message"


class OutboxMailer:
    """Write each message as `<UTC timestamp>-<subject slug>-<short id>.eml` in a folder.

    The default when no SMTP server is configured: any mail client opens the files.
    Each file appears atomically (written to a temporary name, then renamed), so a
    reader polling the folder never sees half a message.
    """

    name = "outbox"

    def __init__(self, folder: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(folder)
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.folder)!r})"

    def send(self, message: EmailMessage) -> str:
        message_id = _ensure_message_id(message)
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        short = hashlib.sha256(message_id.encode()).hexdigest()[:8]
        name = f"{stamp}-{slug(str(message.get('Subject', '')))}-{short}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(bytes(message))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.folder / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            # The rename must survive a power cut too: the caller records the
            # message as sent once this returns, and never sends it again.
            _sync_folder(self.folder)
        except OSError as exc:
            raise MailError(
                f"cannot write the message to the outbox folder {self.folder}: {exc.strerror}"
            ) from None
        return message_id

    def path_of(self, message_id: str) -> Path | None:
        """The outbox file of a message sent earlier (by its Message-ID), if present."""
        short = hashlib.sha256(message_id.encode()).hexdigest()[:8]
        found = sorted(self.folder.glob(f"*-{short}.eml"))
        return found[-1] if found else None


def _sync_folder(folder: Path) -> None:
    """fsync a folder (its renames durable). A file system that cannot is left at
    that: the message is written, and calling it unsent would send it twice."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def open_mailer(options: Mapping[str, Any], context: ConnectorContext) -> SmtpMailer | OutboxMailer:
    """A mailer from config options: SMTP when `host` is set, else the outbox folder.

    Options: host, port, security (starttls|ssl|none), username, password_env or
    password_file, timeout, outbox (folder, relative to the config's folder).
    """
    host = options.get("host")
    if not host:
        folder = options.get("outbox") or context.outbox
        if not folder:
            raise MailError("no SMTP host and no outbox folder configured for the report mail")
        path = Path(str(folder)).expanduser()
        return OutboxMailer(path if path.is_absolute() else context.base_dir / path)
    username = options.get("username") or None
    password = resolve_secret(options, "password", required=bool(username))
    security = str(options.get("security", "starttls"))
    port = options.get("port")
    return SmtpMailer(
        str(host),
        int(port) if port else None,
        security=security,
        username=str(username) if username else None,
        password=password,
        timeout=float(options.get("timeout", 30)),
    )
