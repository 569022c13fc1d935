"""GraphMailer: reports through Graph sendMail, as MIME, never sent twice."""

from __future__ import annotations

import random
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.base import ConnectorContext, Mailer
from connectors.mail import MailError
from connectors.outlook.mail import GraphMailer
from tests.fakes.graph_client import SECRET_ENV
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

SENDER = "coaching-reports@example.com"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph([SENDER]).start()
    try:
        yield server
    finally:
        server.stop()


def mailer(fake: FakeGraph, tmp_path: Path, sleeps: list[float]) -> GraphMailer:
    return GraphMailer(
        fake.options(sender=SENDER),
        ConnectorContext(base_dir=tmp_path),
        transport=fake.transport(),
        sleep=sleeps.append,
        rng=random.Random(3),
    )


def report() -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = "ceo@example.com"
    msg["Subject"] = "Coaching report 2031-03 — Säljteamet"
    msg.set_content("Coverage 93 %\n")
    msg.add_alternative("<p>Coverage <b>93 %</b></p>", subtype="html")
    msg.add_attachment(
        b"team,coverage\nnorth,0.93\n",
        maintype="text",
        subtype="csv",
        filename="coaching-2031-03.csv",
    )
    return msg


def test_report_goes_as_mime_with_its_parts(fake: FakeGraph, tmp_path: Path) -> None:
    m = mailer(fake, tmp_path, [])
    assert isinstance(m, Mailer)
    try:
        message_id = m.send(report())
    finally:
        m.close()
    ((box, sent),) = fake.sent_mail
    assert box == SENDER
    assert sent["Message-ID"] == message_id and message_id.endswith("@example.com>")
    assert sent["From"] == SENDER
    assert sent["Subject"] == "Coaching report 2031-03 — Säljteamet"
    names = [p.get_filename() for p in sent.walk() if p.get_filename()]
    assert names == ["coaching-2031-03.csv"]
    html = next(p for p in sent.walk() if p.get_content_type() == "text/html")
    assert "<b>93 %</b>" in html.get_content()


def test_throttled_send_waits_and_sends_once(fake: FakeGraph, tmp_path: Path) -> None:
    sleeps: list[float] = []
    fake.faults.retry_after = "30"
    fake.faults.queue = ["429"]
    m = mailer(fake, tmp_path, sleeps)
    try:
        m.send(report())
    finally:
        m.close()
    assert sleeps == [30.0]
    assert len(fake.sent_mail) == 1


def test_lost_answer_is_not_resent(fake: FakeGraph, tmp_path: Path) -> None:
    fake.faults.queue = ["reset"]
    m = mailer(fake, tmp_path, [])
    try:
        with pytest.raises(MailError, match="may have been sent") as info:
            m.send(report())
    finally:
        m.close()
    assert info.value.temporary
    assert info.value.may_have_sent  # the report's claim is kept: no automatic resend
    assert len(fake.sent_mail) == 1  # it did go out; a blind retry would send it twice


def test_mailbox_without_permission_is_named(fake: FakeGraph, tmp_path: Path) -> None:
    fake.state.denied.add(SENDER)
    m = mailer(fake, tmp_path, [])
    try:
        with pytest.raises(MailError, match=SENDER) as info:
            m.send(report())
    finally:
        m.close()
    assert not info.value.temporary and "Mail.Send" in str(info.value)
    assert fake.sent_mail == []
