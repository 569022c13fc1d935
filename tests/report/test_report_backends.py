"""The monthly report through each mail back end a config can choose (`mail.backend`),
sent by `send_report` exactly once per recipient: Microsoft Graph sendMail (the Graph
fake), the Gmail API (the Gmail fake built on the discovery document). SMTP is
tests/report/test_report_send.py (and tests/connectors/test_mail.py for STARTTLS, SSL
and logins); the outbox is the default of every other test."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.mailers import open_report_mailer
from scheduler.cli.main import main
from scheduler.errors import AlreadySent
from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.service.jobs import send_report
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings
from tests.fakes.gmail_server import FakeGmail
from tests.fakes.graph_client import SECRET_ENV
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph
from tests.orgs import write_org

MONTH = Month(2031, 3)
SENDER = "coaching-reports@example.com"
NOW = datetime(2031, 4, 1, 8, tzinfo=UTC)


def _org(tmp_path: Path, mail: dict[str, Any], connectors: dict[str, Any] | None = None) -> Path:
    path = write_org(
        tmp_path,
        sellers=3,
        extra={
            "mail": {"from": f"Coachpass <{SENDER}>", "outbox": "outbox", **mail},
            "connectors": {
                "local": {"path": "calendars", "outbox": "outbox"},
                **(connectors or {}),
            },
        },
    )
    rt = Runtime.open(load_settings(path))
    try:
        book_month(rt, MONTH, datetime(2031, 2, 20, 8, tzinfo=UTC))
        reconcile(rt, datetime(2031, 4, 1, 6, tzinfo=UTC))
    finally:
        rt.close()
    return path


def _check_report(message: EmailMessage, recipient: str) -> None:
    assert message["To"] == recipient
    assert message["X-Coachpass-Report"] == f"acme/{MONTH}"
    html = message.get_body(("html",))
    assert html is not None and "Team One" in html.get_content()
    files = {p.get_filename(): p for p in message.iter_attachments()}
    assert set(files) == {"coachpass-acme-2031-03.csv", "coachpass-acme-2031-03-sessions.csv"}
    sessions = files["coachpass-acme-2031-03-sessions.csv"].get_content()
    rows = list(csv.DictReader(io.StringIO(sessions)))
    assert [r["seller_outcome"] for r in rows] == ["held"] * 3


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph([SENDER]).start()
    try:
        yield server
    finally:
        server.stop()


def test_graph_sendmail_from_the_sender_mailbox_once_per_recipient(
    graph: FakeGraph, tmp_path: Path
) -> None:
    # The app registration of the outlook connector is reused; only the back end is named.
    config = _org(tmp_path, {"backend": "graph"}, {"outlook": graph.options()})
    rt = Runtime.open(load_settings(config))
    try:
        mail = rt.settings.mail
        assert (mail.backend, mail.provider_options["sender"]) == ("graph", SENDER)
        assert mail.provider_options["tenant_id"] == graph.options()["tenant_id"]
        assert rt.mailer_description() == f"Microsoft Graph sendMail from {SENDER}"
        # The fake's HTTPS host names are reached through its loopback transport.
        context = ConnectorContext(base_dir=rt.settings.base_dir)
        rt._mailer = open_report_mailer(
            mail.backend, mail.provider_options, context, transport=graph.transport()
        )
        outcomes = send_report(rt, MONTH, NOW)
        assert [o.status for o in outcomes] == ["sent", "sent"]
        assert sorted(box for box, _ in graph.sent_mail) == [SENDER, SENDER]
        for (_, message), recipient in zip(
            sorted(graph.sent_mail, key=lambda m: str(m[1]["To"])),
            ["chief@example.com", "head@example.com"],
            strict=True,
        ):
            _check_report(message, recipient)
            assert message["From"] == f"Coachpass <{SENDER}>"
        with pytest.raises(AlreadySent):
            send_report(rt, MONTH, NOW)
        assert len(graph.sent_mail) == 2
    finally:
        rt.close()


@pytest.fixture
def gmail() -> Iterator[FakeGmail]:
    server = FakeGmail().start()
    server.add_user(SENDER)
    try:
        yield server
    finally:
        server.stop()


def test_gmail_api_by_delegation_once_per_recipient(gmail: FakeGmail, tmp_path: Path) -> None:
    assert gmail.tokens is not None
    key = gmail.tokens.service_account_file(tmp_path)
    options = gmail.options(Path(key.name))  # relative to the config's folder
    config = _org(tmp_path, {"backend": "gmail", "gmail": options})
    rt = Runtime.open(load_settings(config))
    try:
        assert rt.mailer_description() == f"the Gmail API from {SENDER}"
        outcomes = send_report(rt, MONTH, NOW)
        assert [o.status for o in outcomes] == ["sent", "sent"]
        assert [box for box, _ in gmail.sent] == [SENDER, SENDER]
        for (_, message), recipient in zip(
            gmail.sent, ["chief@example.com", "head@example.com"], strict=True
        ):
            _check_report(message, recipient)
        with pytest.raises(AlreadySent):
            send_report(rt, MONTH, NOW)
        assert len(gmail.sent) == 2 and gmail.requests == 2
    finally:
        rt.close()


def test_gmail_answer_lost_keeps_the_claim_so_nobody_gets_it_twice(
    gmail: FakeGmail, tmp_path: Path
) -> None:
    assert gmail.tokens is not None
    key = gmail.tokens.service_account_file(tmp_path)
    config = _org(tmp_path, {"backend": "gmail", "gmail": gmail.options(key)})
    gmail.statuses = [503]
    rt = Runtime.open(load_settings(config))
    try:
        (first,) = send_report(rt, MONTH, NOW, only=["chief@example.com"])
        assert first.status == "outcome unknown" and "may have been sent" in first.detail
        rows = rt.store.sent_reports("acme", MONTH)
        assert [r["status"] for r in rows] != ["sent"] and len(rows) == 1  # kept, not released
        (again,) = send_report(rt, MONTH, NOW, only=["chief@example.com"])
        assert again.status == "outcome unknown"  # never resent by itself
        assert gmail.requests == 1
    finally:
        rt.close()


def test_backend_settings_errors_name_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_org(tmp_path, extra={"mail": {"backend": "smtp"}})
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config), "config", "validate"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "mail" in err and "smtp section" in err
    config = write_org(
        tmp_path, extra={"mail": {"backend": "graph", "graph": {"client_secret": "s3cr3t"}}}
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config), "config", "validate"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "mail.graph.client_secret" in err
    assert "s3cr3t" not in err
