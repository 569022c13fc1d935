"""GmailMailer against the Gmail fake (tests/fakes/gmail_server.py): the report goes
whole as MIME from the delegated sender mailbox, and every refusal is a MailError that
names the mailbox and the fix, never the key."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.base import ConnectorContext, ConnectorUserError, Mailer
from connectors.google.mail import GmailMailer
from connectors.mail import MailError
from tests.fakes.gmail_server import FakeGmail

SENDER = "coaching-reports@acme.example"


@pytest.fixture
def fake() -> Iterator[FakeGmail]:
    server = FakeGmail().start()
    server.add_user(SENDER)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def key_file(fake: FakeGmail, tmp_path: Path) -> Path:
    assert fake.tokens is not None
    return fake.tokens.service_account_file(tmp_path)


def report() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Coachpass <{SENDER}>"
    msg["To"] = "ceo@acme.example"
    msg["Subject"] = "Coachningsrapport 2031-03 — Säljteamet"
    msg.set_content("Täckning 93 %\n")
    msg.add_alternative("<p>Täckning <b>93 %</b></p>", subtype="html")
    msg.add_attachment(
        "\ufeffteam,coverage\nnorth,93.0\n".encode(),
        maintype="text",
        subtype="csv",
        filename="coachpass-acme-2031-03.csv",
    )
    return msg


def mailer(fake: FakeGmail, key_file: Path, tmp_path: Path, **extra: object) -> GmailMailer:
    return GmailMailer(fake.options(key_file, **extra), ConnectorContext(base_dir=tmp_path))


def test_report_goes_whole_from_the_delegated_mailbox(
    fake: FakeGmail, key_file: Path, tmp_path: Path
) -> None:
    m = mailer(fake, key_file, tmp_path, sender=SENDER)
    assert isinstance(m, Mailer)
    message_id = m.send(report())
    ((box, sent),) = fake.sent
    assert box == SENDER  # the token acted as the sender mailbox, by delegation
    assert sent["Message-ID"] == message_id
    assert sent["Subject"] == "Coachningsrapport 2031-03 — Säljteamet"
    html = next(p for p in sent.walk() if p.get_content_type() == "text/html")
    assert "<b>93 %</b>" in html.get_content()
    (csv_part,) = [p for p in sent.walk() if p.get_filename()]
    assert csv_part.get_filename() == "coachpass-acme-2031-03.csv"
    assert csv_part.get_payload(decode=True).startswith(b"\xef\xbb\xbfteam,coverage")
    m.close()


def test_sender_defaults_to_the_from_address(
    fake: FakeGmail, key_file: Path, tmp_path: Path
) -> None:
    mailer(fake, key_file, tmp_path).send(report())
    assert [box for box, _ in fake.sent] == [SENDER]


def test_mailbox_without_delegation_is_refused_with_the_fix(
    fake: FakeGmail, key_file: Path, tmp_path: Path
) -> None:
    m = mailer(fake, key_file, tmp_path, sender="nobody@acme.example")  # not a domain user
    with pytest.raises(MailError) as err:
        m.send(report())
    text = str(err.value)
    assert "nobody@acme.example" in text and "gmail.send" in text and "delegation" in text
    assert "PRIVATE KEY" not in text and not err.value.may_have_sent
    assert fake.sent == []


def test_server_error_may_have_sent_and_is_not_repeated(
    fake: FakeGmail, key_file: Path, tmp_path: Path
) -> None:
    fake.statuses = [500]
    m = mailer(fake, key_file, tmp_path, sender=SENDER)
    with pytest.raises(MailError) as err:
        m.send(report())
    assert err.value.may_have_sent and err.value.temporary and err.value.code == 500
    assert fake.requests == 1  # never retried by the mailer: no idempotency key for mail


def test_rate_limit_is_temporary_and_certainly_not_sent(
    fake: FakeGmail, key_file: Path, tmp_path: Path
) -> None:
    fake.statuses = [429]
    with pytest.raises(MailError) as err:
        mailer(fake, key_file, tmp_path, sender=SENDER).send(report())
    assert err.value.temporary and not err.value.may_have_sent


def test_lost_answer_may_have_sent(fake: FakeGmail, key_file: Path, tmp_path: Path) -> None:
    fake.hang_up = True
    with pytest.raises(MailError) as err:
        mailer(fake, key_file, tmp_path, sender=SENDER).send(report())
    assert err.value.may_have_sent and "Sent folder" in str(err.value)


def test_missing_or_broken_key_is_a_user_error(tmp_path: Path) -> None:
    context = ConnectorContext(base_dir=tmp_path)
    with pytest.raises(ConnectorUserError, match="service_account_file"):
        GmailMailer({"sender": SENDER}, context)
    bad = tmp_path / "key.json"
    bad.write_text("{}")
    with pytest.raises(ConnectorUserError, match="not a service account key"):
        GmailMailer({"service_account_file": str(bad)}, context)
