"""Mailers against a real SMTP server (aiosmtpd on 127.0.0.1) and a real outbox folder.

The SMTP tests send a complete report e-mail and read it back the way a recipient's
client would: parse the raw bytes with the email package, check the text and HTML
parts, and read the CSV attachment with the csv module.
"""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import io
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.base import ConnectorContext, ConnectorUserError
from connectors.mail import MailError, OutboxMailer, SmtpMailer, open_mailer, slug
from scheduler.model import (
    Month,
    Organisation,
    Person,
    Policy,
    SessionRecord,
    SessionState,
    Team,
    session_key,
)
from scheduler.report.kpi import compute_month
from scheduler.report.render import build_report
from scheduler.report.trend import trend

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "config" / "templates"
USER, PASSWORD = "coachpass", "s3cret-Pa55word"

# ---------------------------------------------------------------------------
# A test certificate authority: one self-signed certificate for 127.0.0.1
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coachpass test smtp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_files)
    return ctx


def client_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


# ---------------------------------------------------------------------------
# The SMTP server
# ---------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool
    login: str | None

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Handler:
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # user, password, tls

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        self.messages.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                bytes(content),
                session.ssl is not None,
                login,
            )
        )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        self.logins.append((user, password, session.ssl is not None))
        ok = user == USER and password == PASSWORD
        return AuthResult(success=ok, auth_data=data if ok else None, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    handler: Handler
    port: int


def run_server(handler: Handler, **kwargs: Any) -> Iterator[Server]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield Server(handler, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(tls_files: tuple[Path, Path]) -> Iterator[Server]:
    """Submission-style server: STARTTLS required, AUTH only after TLS."""
    handler = Handler()
    yield from run_server(
        handler,
        tls_context=server_context(tls_files),
        require_starttls=True,
        authenticator=handler.authenticate,
        auth_require_tls=True,
    )


@pytest.fixture
def ssl_server(tls_files: tuple[Path, Path]) -> Iterator[Server]:
    """Implicit TLS (port-465 style)."""
    handler = Handler()
    yield from run_server(
        handler,
        ssl_context=server_context(tls_files),
        authenticator=handler.authenticate,
        auth_require_tls=False,  # the whole connection is TLS; aiosmtpd cannot tell
    )


@pytest.fixture
def plain_server() -> Iterator[Server]:
    """A relay on the local network: no TLS, no AUTH."""
    handler = Handler()
    yield from run_server(handler)


# ---------------------------------------------------------------------------
# A report to send: two teams, figures small enough to check by hand
# ---------------------------------------------------------------------------

MONTH = Month(2026, 2)  # 28 days: exactly 4 weeks


def person(pid: str, name: str) -> Person:
    return Person(pid, name, f"{pid}@acme.example", "Europe/Stockholm", "SE", "local", pid)


@pytest.fixture
def report_message() -> EmailMessage:
    nord = Team(
        "nord", "Nord", person("m1", "Anna Berg"), (person("a", "Åsa Öberg"), person("b", "Bo Ek"))
    )
    syd = Team("syd", "Syd", person("m2", "Per Lund"), (person("c", "Cia Holm"),))
    org = Organisation(
        "acme", "Acme Sales AB", "Europe/Stockholm", "SE", "en", Policy(), (nord, syd)
    )

    def held(team: str, manager: str, seller: str, minutes: int) -> SessionRecord:
        start = datetime(2026, 2, 10, 9, tzinfo=UTC)
        return SessionRecord(
            session_key("acme", manager, seller, MONTH, 1),
            "acme",
            team,
            manager,
            seller,
            MONTH,
            1,
            SessionState.HELD,
            start,
            start + timedelta(minutes=minutes),
        )

    sessions = [held("nord", "m1", "a", 45), held("nord", "m1", "b", 60)]
    kpi = compute_month(org, MONTH, sessions)
    return build_report(
        org,
        MONTH,
        kpi,
        trend(org, [MONTH.previous(), MONTH], sessions),
        sender="Coachpass <coachpass@acme.example>",
        recipients=["ceo@acme.example", "Sales VP <vp@acme.example>"],
        templates_dir=TEMPLATES,
        generated_at=datetime(2026, 3, 1, 7, tzinfo=UTC),
    )


def csv_rows(message: EmailMessage) -> list[dict[str, str]]:
    attachment, per_session = list(message.iter_attachments())
    assert per_session.get_filename() == "coachpass-acme-2026-02-sessions.csv"
    assert attachment.get_filename() == "coachpass-acme-2026-02.csv"
    assert attachment.get_content_type() == "text/csv"
    text = attachment.get_payload(decode=True).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


# ---------------------------------------------------------------------------
# SMTP
# ---------------------------------------------------------------------------


def test_report_over_starttls_with_auth_arrives_whole(
    starttls_server: Server, tls_files: tuple[Path, Path], report_message: EmailMessage
) -> None:
    mailer = SmtpMailer(
        "127.0.0.1",
        starttls_server.port,
        security="starttls",
        username=USER,
        password=PASSWORD,
        ssl_context=client_context(tls_files),
        timeout=5,
    )
    message_id = mailer.send(report_message)

    (got,) = starttls_server.handler.messages
    assert got.tls and got.login == USER
    assert starttls_server.handler.logins == [(USER, PASSWORD, True)]  # never before TLS
    assert got.mail_from == "coachpass@acme.example"
    assert sorted(got.rcpt_tos) == ["ceo@acme.example", "vp@acme.example"]

    parsed = got.parsed()
    assert parsed["Message-ID"] == message_id == report_message["Message-ID"]
    assert parsed["Subject"] == "Coaching KPI report 2026-02 — Acme Sales AB"
    assert parsed["X-Coachpass-Report"] == "acme/2026-02"
    assert parsed.get_content_type() == "multipart/mixed"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    assert "Åsa" not in text.get_content()  # only sellers not coached are named
    assert "Anna Berg" in text.get_content() and "Anna Berg" in html.get_content()

    rows = {(r["level"], r["manager"]): r for r in csv_rows(parsed)}
    # Nord: 2 of 2 sellers held, 45 + 60 = 105 min over 28/7 = 4 weeks -> 26.25/week.
    nord = rows[("manager", "Anna Berg")]
    assert (nord["active_sellers"], nord["held"], nord["held_minutes"]) == ("2", "2", "105")
    assert float(nord["coverage_pct"]) == 100.0
    assert float(nord["minutes_per_manager_week"]) == pytest.approx(26.2, abs=0.05)
    # Syd: 0 of 1; nothing decided yet, so no held rate (empty, not 0).
    syd = rows[("manager", "Per Lund")]
    assert (syd["held"], syd["coverage_pct"], syd["held_rate_pct"]) == ("0", "0.0", "")
    # Organisation: 2 of 3 sellers = 66.7 %; 105 min / 4 weeks / 2 managers = 13.125.
    org = rows[("organisation", "")]
    assert float(org["coverage_pct"]) == pytest.approx(66.7, abs=0.05)
    assert float(org["minutes_per_manager_week"]) == pytest.approx(13.1, abs=0.05)


def test_implicit_ssl(
    ssl_server: Server, tls_files: tuple[Path, Path], report_message: EmailMessage
) -> None:
    mailer = SmtpMailer(
        "127.0.0.1",
        ssl_server.port,
        security="ssl",
        username=USER,
        password=PASSWORD,
        ssl_context=client_context(tls_files),
        timeout=5,
    )
    mailer.send(report_message)
    (got,) = ssl_server.handler.messages
    assert got.login == USER
    assert len(csv_rows(got.parsed())) == 2 + 2 + 1  # managers, teams, organisation


def test_plain_relay_without_auth_and_message_id_is_added(plain_server: Server) -> None:
    message = EmailMessage()
    message["From"] = "coachpass@acme.example"
    message["To"] = "ceo@acme.example"
    message["Cc"] = "cfo@acme.example"
    message["Bcc"] = "audit@acme.example"
    message["Subject"] = "test"
    message.set_content("hello")
    message_id = SmtpMailer("127.0.0.1", plain_server.port, security="none", timeout=5).send(
        message
    )
    (got,) = plain_server.handler.messages
    assert message_id.startswith("<") and message_id.endswith("@acme.example>")
    assert got.parsed()["Message-ID"] == message_id
    assert sorted(got.rcpt_tos) == ["audit@acme.example", "ceo@acme.example", "cfo@acme.example"]
    assert "audit@" not in got.raw.decode()  # Bcc is an envelope recipient only


def test_wrong_password_names_server_and_code_but_not_the_password(
    starttls_server: Server, tls_files: tuple[Path, Path], report_message: EmailMessage
) -> None:
    wrong = "not-the-Pa55word-xyz"
    mailer = SmtpMailer(
        "127.0.0.1",
        starttls_server.port,
        username=USER,
        password=wrong,
        ssl_context=client_context(tls_files),
        timeout=5,
    )
    with pytest.raises(ConnectorUserError) as caught:
        mailer.send(report_message)
    error = caught.value
    assert isinstance(error, MailError) and error.code == 535
    assert f"127.0.0.1:{starttls_server.port}" in str(error)
    assert "535" in str(error) and USER in str(error)
    assert wrong not in str(error) and wrong not in repr(mailer)
    assert starttls_server.handler.messages == []


def test_starttls_missing_on_server_never_sends_the_password(
    plain_server: Server, report_message: EmailMessage
) -> None:
    mailer = SmtpMailer(
        "127.0.0.1",
        plain_server.port,
        security="starttls",
        username=USER,
        password=PASSWORD,
        timeout=5,
    )
    with pytest.raises(MailError, match=r"(?i)starttls") as caught:
        mailer.send(report_message)
    assert f"127.0.0.1:{plain_server.port}" in str(caught.value)
    assert plain_server.handler.logins == [] and plain_server.handler.messages == []


def test_untrusted_certificate_is_refused(
    starttls_server: Server, report_message: EmailMessage
) -> None:
    # The system trust store does not know the test CA: that must fail, not fall back.
    mailer = SmtpMailer(
        "127.0.0.1", starttls_server.port, username=USER, password=PASSWORD, timeout=5
    )
    with pytest.raises(MailError, match="TLS") as caught:
        mailer.send(report_message)
    assert str(starttls_server.port) in str(caught.value)
    assert starttls_server.handler.logins == []


def test_refused_recipients(plain_server: Server, report_message: EmailMessage) -> None:
    mailer = SmtpMailer("127.0.0.1", plain_server.port, security="none", timeout=5)
    # One refused: the other still gets it, and the refusal is reported.
    plain_server.handler.refuse = {"vp@acme.example"}
    mailer.send(report_message)
    (got,) = plain_server.handler.messages
    assert got.rcpt_tos == ["ceo@acme.example"]
    assert mailer.refused["vp@acme.example"][0] == 550
    # All refused: nothing was sent, so it is an error with the server's code.
    plain_server.handler.refuse = {"vp@acme.example", "ceo@acme.example"}
    with pytest.raises(MailError) as caught:
        mailer.send(report_message)
    assert caught.value.code == 550 and not caught.value.temporary
    assert "vp@acme.example" in str(caught.value)
    assert len(plain_server.handler.messages) == 1


def test_no_server_listening_is_a_temporary_user_error(report_message: EmailMessage) -> None:
    port = free_port()  # nothing listens here any more
    with pytest.raises(MailError) as caught:
        SmtpMailer("127.0.0.1", port, security="none", timeout=2).send(report_message)
    assert f"127.0.0.1:{port}" in str(caught.value) and caught.value.temporary


def test_bad_security_setting_is_a_user_error() -> None:
    with pytest.raises(MailError, match="tls"):
        SmtpMailer("smtp.example", 25, security="tls")


# ---------------------------------------------------------------------------
# Outbox
# ---------------------------------------------------------------------------


def test_outbox_writes_one_parseable_file_per_send(
    tmp_path: Path, report_message: EmailMessage
) -> None:
    clock = iter(
        [
            datetime(2026, 3, 1, 7, 0, 5, tzinfo=UTC),
            datetime(2026, 3, 1, 8, 0, 5, tzinfo=dt.timezone(timedelta(hours=1))),
        ]
    )
    outbox = OutboxMailer(tmp_path / "outbox", clock=lambda: next(clock))
    first = outbox.send(report_message)

    del report_message["Message-ID"]  # a resend is a new message
    second = outbox.send(report_message)
    assert first != second

    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(files) == 2
    # Both stamps are 07:00:05 UTC (the second clock reads 08:00:05+01:00).
    assert all(
        f.startswith("20260301T070005Z-coaching-kpi-report-2026-02-acme-sales-ab-") for f in files
    )
    assert all(f.endswith(".eml") for f in files)
    path = outbox.path_of(first)
    assert path is not None
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Message-ID"] == first
    assert len(csv_rows(parsed)) == 5


def test_outbox_folder_that_cannot_be_created(tmp_path: Path, report_message: EmailMessage) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(MailError, match=str(blocker)):
        OutboxMailer(blocker).send(report_message)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_outbox_message_is_durable_file_and_folder_before_send_returns(
    tmp_path: Path, report_message: EmailMessage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever sends records the message as sent once `send` returns (the notices
    never send it again): its data and its name in the folder must be on disk."""
    import connectors.mail as mail_module

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append("folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")

    monkeypatch.setattr(mail_module.os, "fsync", fsync)
    OutboxMailer(tmp_path / "outbox").send(report_message)
    assert synced == ["file", "folder"]


def test_slug() -> None:
    assert slug("Coachningsrapport 2026-12 — Åsa & Öberg AB") == (
        "coachningsrapport-2026-12-asa-oberg-ab"
    )
    assert slug("***") == "message"
    assert len(slug("x" * 500)) == 60


# ---------------------------------------------------------------------------
# open_mailer (config options -> mailer)
# ---------------------------------------------------------------------------


def test_open_mailer_from_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = ConnectorContext(base_dir=tmp_path)
    outbox = open_mailer({"outbox": "mail-out"}, context)
    assert isinstance(outbox, OutboxMailer) and outbox.folder == tmp_path / "mail-out"

    monkeypatch.setenv("COACHPASS_TEST_SMTP_PASSWORD", PASSWORD)
    smtp = open_mailer(
        {
            "host": "smtp.example",
            "security": "ssl",
            "username": USER,
            "password_env": "COACHPASS_TEST_SMTP_PASSWORD",
        },
        context,
    )
    assert isinstance(smtp, SmtpMailer) and smtp.port == 465
    assert PASSWORD not in repr(smtp)

    monkeypatch.delenv("COACHPASS_TEST_SMTP_PASSWORD")
    with pytest.raises(ConnectorUserError, match="COACHPASS_TEST_SMTP_PASSWORD"):
        open_mailer(
            {
                "host": "smtp.example",
                "username": USER,
                "password_env": "COACHPASS_TEST_SMTP_PASSWORD",
            },
            context,
        )
    assert os.environ.get("COACHPASS_TEST_SMTP_PASSWORD") is None
