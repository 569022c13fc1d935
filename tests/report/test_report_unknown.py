"""Issue 9, finding 7: a report send whose outcome is unknown is never repeated
silently.

A real `coachpass report --send` runs as a subprocess against a real SMTP server on
127.0.0.1 (aiosmtpd). The server keeps the message and, before it answers the DATA
command, kills the sender with SIGKILL: the mail is delivered, the store still says
`sending`. Every later run must say "outcome unknown" (exit 3), never send that
copy again, and say "in flight elsewhere" only while a live process holds the send.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from scheduler.errors import PartialFailure
from scheduler.model import Month
from scheduler.report.send import report_lock
from scheduler.runtime import Runtime
from scheduler.service.jobs import run_job
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.orgs import run_cli as run
from tests.orgs import write_org

MONTH = Month(2031, 3)
NOW = "2031-04-01T08:00:00+00:00"
CHIEF, HEAD = "chief@example.com", "head@example.com"


class KillingSink:
    """Keeps every message; kills process `victim` (if set) on the next DATA, after
    the message is stored and before the 250 reply reaches it."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.victim: int | None = None
        self.refuse: set[str] = set()  # mailboxes answered 550

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        if self.victim is not None:
            os.kill(self.victim, signal.SIGKILL)
            self.victim = None
        return "250 OK"

    def count(self, recipient: str) -> int:
        return sum(1 for rcpts, _ in self.messages if recipient in rcpts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sink() -> Any:
    handler = KillingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def config(tmp_path: Path, sink: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    _, port = sink
    path = write_org(
        tmp_path,
        sellers=2,
        extra={
            "mail": {
                "from": "Coachpass <coachpass@example.com>",
                "outbox": "outbox",
                "smtp": {"host": "127.0.0.1", "port": port, "security": "none"},
            }
        },
    )
    rt = Runtime.open(load_settings(path))
    try:
        book_month(rt, MONTH, datetime(2031, 2, 20, 8, tzinfo=UTC))
    finally:
        rt.close()
    monkeypatch.setenv("COACHPASS_NOW", NOW)
    return path


def _killed_mid_send(config: Path, sink: KillingSink) -> None:
    """`coachpass report --send` in a subprocess, killed right after the server took
    the first recipient's mail."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from scheduler.cli.main import main; main()",
            "--config",
            str(config),
            "report",
            "--month",
            str(MONTH),
            "--send",
        ],
        env={**os.environ, "COACHPASS_NOW": NOW},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sink.victim = proc.pid
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert sink.count(CHIEF) == 1 and sink.count(HEAD) == 0


def _unknown(config: Path, at: datetime) -> list[dict[str, Any]]:
    rt = Runtime.open(load_settings(config))
    try:
        return rt.store.reports_with_unknown_outcome(now=at, org_id="acme")
    finally:
        rt.close()


def test_crash_after_handover_is_unknown_until_marked_delivered(
    config: Path, sink: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, _ = sink
    _killed_mid_send(config, handler)
    later = datetime.fromisoformat(NOW) + timedelta(hours=1)
    assert [r["recipient"] for r in _unknown(config, later)] == [CHIEF], "seen by health"

    args = ["--config", str(config), "report", "--month", "2031-03", "--send"]
    code, out, err = run(args, capsys)
    assert code == 3
    assert f"{CHIEF}: outcome unknown" in out and f"{HEAD}: sent" in out
    assert "in flight elsewhere" not in out + err, "nobody is sending: the sender died"
    assert f"--mark-delivered --to {CHIEF}" in err and f"--resend --to {CHIEF}" in err
    assert "Traceback" not in err
    assert handler.count(CHIEF) == 1 and handler.count(HEAD) == 1

    # Long after (the old 30-minute take-over): still no second copy, still exit 3.
    monkeypatch.setenv("COACHPASS_NOW", later.isoformat())
    code, out, err = run([*args, "--json"], capsys)
    assert code == 3
    assert '"status": "outcome unknown"' in out and '"status": "already sent"' in out
    assert handler.count(CHIEF) == 1
    assert [r["status"] for r in _unknown(config, later)] == ["unknown"]

    code, out, err = run(
        [
            "--config",
            str(config),
            "report",
            "--month",
            "2031-03",
            "--mark-delivered",
            "--to",
            CHIEF,
        ],
        capsys,
    )
    assert code == 0, err
    assert f"{CHIEF}: marked delivered" in out
    assert _unknown(config, later + timedelta(days=1)) == []
    code, _, err = run(args, capsys)
    assert code == 2 and "sent already" in err
    assert handler.count(CHIEF) == 1 and handler.count(HEAD) == 1, "0 duplicates"


def test_resend_resolves_an_unknown_outcome_with_one_new_copy(
    config: Path, sink: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, _ = sink
    _killed_mid_send(config, handler)
    code, out, err = run(
        ["--config", str(config), "report", "--month", "2031-03", "--resend", "--to", CHIEF],
        capsys,
    )
    assert code == 0, err
    assert f"{CHIEF}: sent" in out
    assert handler.count(CHIEF) == 2, "the one explicit resend"
    assert _unknown(config, datetime.fromisoformat(NOW) + timedelta(days=1)) == []


def test_in_flight_only_while_a_live_process_holds_the_send(
    config: Path, sink: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, _ = sink
    rt = Runtime.open(load_settings(config))
    lock = report_lock(rt, MONTH)
    assert lock.try_acquire()
    try:
        code, out, err = run(
            ["--config", str(config), "report", "--month", "2031-03", "--send"], capsys
        )
        assert code == 3
        assert f"{CHIEF}: in flight elsewhere" in out and handler.messages == []
    finally:
        lock.release()
        rt.close()
    code, out, err = run(
        ["--config", str(config), "report", "--month", "2031-03", "--send"], capsys
    )
    assert code == 0, err
    assert handler.count(CHIEF) == 1 and handler.count(HEAD) == 1


def test_service_job_logs_unknown_outcome_as_error_and_never_resends(
    config: Path, sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    handler, _ = sink
    _killed_mid_send(config, handler)
    rt = Runtime.open(load_settings(config))
    fire = datetime(2031, 4, 1, 6, tzinfo=UTC)
    try:
        for hours in (1, 3):  # the first catch-up, and one after the old stale limit
            with caplog.at_level(logging.ERROR), pytest.raises(PartialFailure) as info:
                run_job(rt, "report", fire, fire + timedelta(hours=hours))
            assert f"{CHIEF}: outcome unknown" in str(info.value)
        runs = rt.store.job_runs()
    finally:
        rt.close()
    assert handler.count(CHIEF) == 1 and handler.count(HEAD) == 1
    assert runs[0]["status"] == "failed" and "outcome unknown" in runs[0]["detail"]
    assert any(
        r.levelno == logging.ERROR and "outcome unknown" in r.getMessage() for r in caplog.records
    )


def test_one_refused_recipient_does_not_stop_the_others(
    config: Path, sink: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Isolation in the report: the server refuses one mailbox; the other recipient
    gets the report, the refused one is listed (exit 3) and sent by a later run."""
    handler, _ = sink
    handler.refuse.add(CHIEF)
    args = ["--config", str(config), "report", "--month", "2031-03", "--send"]
    code, out, err = run(args, capsys)
    assert code == 3
    assert f"{CHIEF}: failed" in out and f"{HEAD}: sent" in out
    assert "550" in err and CHIEF in err and "Traceback" not in err
    assert handler.count(HEAD) == 1 and handler.count(CHIEF) == 0
    handler.refuse.clear()
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert f"{CHIEF}: sent" in out and f"{HEAD}: already sent" in out
    assert handler.count(HEAD) == 1 and handler.count(CHIEF) == 1
