"""The monthly report through a real SMTP server on 127.0.0.1 (aiosmtpd), parsed back,
sent once per recipient, and refused a second time without --resend."""

from __future__ import annotations

import csv
import io
import socket
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from scheduler.cli.main import cli, main
from scheduler.errors import AlreadySent
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.service.jobs import send_report
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings
from tests.orgs import write_org

MONTH = Month(2031, 3)


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, sink
    controller.stop()


@pytest.fixture
def config(tmp_path: Path, smtp) -> Path:  # type: ignore[no-untyped-def]
    controller, _ = smtp
    path = write_org(
        tmp_path,
        sellers=3,
        extra={
            "mail": {
                "from": "Coachpass <coachpass@example.com>",
                "outbox": "outbox",
                "smtp": {"host": "127.0.0.1", "port": controller.port, "security": "none"},
            }
        },
    )
    rt = Runtime.open(load_settings(path))
    try:
        book_month(rt, MONTH, datetime(2031, 2, 20, 8, tzinfo=UTC))
        reconcile(rt, datetime(2031, 4, 1, 6, tzinfo=UTC))
    finally:
        rt.close()
    return path


def test_report_sent_once_per_recipient_and_parsed_back(config: Path, smtp) -> None:  # type: ignore[no-untyped-def]
    _, sink = smtp
    rt = Runtime.open(load_settings(config))
    now = datetime(2031, 4, 1, 8, tzinfo=UTC)
    try:
        outcomes = send_report(rt, MONTH, now)
        assert [o.status for o in outcomes] == ["sent", "sent"]
        assert sorted(r for _, rcpts, _ in sink.messages for r in rcpts) == [
            "chief@example.com",
            "head@example.com",
        ]
        for mail_from, rcpts, raw in sink.messages:
            assert mail_from == "coachpass@example.com"
            msg = message_from_bytes(raw, policy=policy.default)
            assert msg["To"] and rcpts[0] in msg["To"]
            assert "2031-03" in msg["Subject"]
            text = msg.get_body(preferencelist=("plain",))
            html = msg.get_body(preferencelist=("html",))
            assert text is not None and html is not None
            assert "Team One" in text.get_content() and "<table" in html.get_content()
            attachments = [p for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
            assert len(attachments) == 2  # figures, and every session
            rows = list(csv.DictReader(io.StringIO(attachments[0].get_content())))
            assert rows, "CSV has rows"
            # Three sellers, each booked and presumed held: the numbers must say so.
            manager_rows = [r for r in rows if "Boss" in " ".join(r.values())]
            assert manager_rows
            assert any("3" in v for v in manager_rows[0].values())
            per_session = list(csv.DictReader(io.StringIO(attachments[1].get_content())))
            assert [(r["state"], r["source"]) for r in per_session] == [("held", "presumed")] * 3
        ids = {
            message_from_bytes(raw, policy=policy.default)["Message-ID"]
            for _, _, raw in sink.messages
        }
        assert len(ids) == 2, "each recipient's copy is its own message"
        with pytest.raises(AlreadySent, match="--resend"):
            send_report(rt, MONTH, now + timedelta(minutes=5))
        assert len(sink.messages) == 2
        again = send_report(
            rt, MONTH, now + timedelta(minutes=6), resend=True, only=["head@example.com"]
        )
        assert [o.status for o in again] == ["sent"]
        assert len(sink.messages) == 3 and sink.messages[-1][1] == ["head@example.com"]
    finally:
        rt.close()


def test_cli_second_send_exits_2_without_traceback(
    config: Path,
    smtp,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, sink = smtp
    monkeypatch.setenv("COACHPASS_NOW", "2031-04-01T08:00:00+00:00")
    args = ["--config", str(config), "report", "--month", "2031-03", "--send"]
    main(args)  # returns normally: exit status 0
    assert len(sink.messages) == 2
    with pytest.raises(SystemExit) as second:
        main(args)
    assert second.value.code == 2
    err = capsys.readouterr().err
    assert "sent already" in err and "--resend" in err and "Traceback" not in err
    assert len(sink.messages) == 2
    result = CliRunner().invoke(
        cli, ["--config", str(config), "report", "--month", "2031-03", "--resend"]
    )
    assert result.exit_code == 0, result.output
    assert len(sink.messages) == 4


@pytest.mark.parametrize(
    "address",
    ["nobody@acme.example", "not-an-email", "x@example.com\nBcc: evil@evil.example"],
)
def test_report_goes_to_leadership_only(
    config: Path,
    smtp,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    address: str,
) -> None:
    # Found by a new-user trial: --to sent the report to any address (and a line break
    # in it ended in a traceback). --to narrows the leadership list; nothing else.
    _, sink = smtp
    monkeypatch.setenv("COACHPASS_NOW", "2031-04-01T08:00:00+00:00")
    args = ["--config", str(config), "report", "--month", "2031-03", "--resend", "--to", address]
    with pytest.raises(SystemExit) as refused:
        main(args)
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "is not a leadership recipient" in err, err
    assert "Traceback" not in err and sink.messages == []
    rt = Runtime.open(load_settings(config))
    try:
        assert rt.store.sent_reports("acme", MONTH) == []
    finally:
        rt.close()
    main([*args[:-1], "HEAD@example.com"])  # a leadership recipient, any case
    assert [m[1] for m in sink.messages] == [["head@example.com"]]


def test_send_follows_the_month_up_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by a new-user trial: `report --send` before any reconcile mailed 0 % held
    # while every session had taken place. Sending reconciles first.
    path = write_org(tmp_path, sellers=3)
    rt = Runtime.open(load_settings(path))
    try:
        book_month(rt, MONTH, datetime(2031, 2, 20, 8, tzinfo=UTC))
    finally:
        rt.close()
    monkeypatch.setenv("COACHPASS_NOW", "2031-04-01T08:00:00+00:00")
    main(["--config", str(path), "report", "--month", "2031-03", "--send"])
    assert "Traceback" not in capsys.readouterr().err
    rt = Runtime.open(load_settings(path))
    try:
        assert {r.state for r in rt.store.sessions(month=MONTH)} == {SessionState.HELD}
        (claim,) = {r["status"] for r in rt.store.sent_reports("acme", MONTH)}
        assert claim == "sent"
    finally:
        rt.close()
