"""The service: catch-up of missed runs, nothing twice, one leader, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.service.serve import Leadership, catch_up
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.orgs import write_org

# Friday 2031-03-21 08:00 UTC: after the 20th's 06:00 booking run, the 1st's report
# run, today's 07:00 top-up and the last half-hour's reconcile (Stockholm time).
NOW = datetime(2031, 3, 21, 8, 0, tzinfo=UTC)


def test_catch_up_runs_each_missed_job_once(tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(write_org(tmp_path, sellers=3)))
    try:
        # February was booked by this installation, so its report is due on 1 March.
        book_month(rt, Month(2031, 2), datetime(2031, 1, 20, 6, 0, tzinfo=UTC))
        lines: list[str] = []
        first = {r.job: r for r in catch_up(rt, NOW, lines.append)}
        assert first["book_next_month"].ran and first["book_next_month"].period == "2031-04"
        assert first["report"].ran and first["report"].period == "2031-02"
        assert first["top_up"].period == "2031-03-21"
        april = rt.store.sessions(month=Month(2031, 4))
        assert len(april) == 3 and {r.state for r in april} == {SessionState.BOOKED}
        reports = list((tmp_path / "outbox").glob("*report*"))
        assert len(reports) == 2  # one per leadership recipient
        second = catch_up(rt, NOW, lines.append)
        assert not any(r.ran for r in second), "every period is done already"
        assert len(rt.store.sessions(month=Month(2031, 4))) == 3
        assert len(list((tmp_path / "outbox").glob("*report*"))) == 2
        runs = {(r["job"], r["period"]): r["status"] for r in rt.store.job_runs()}
        assert runs[("book_next_month", "2031-04")] == "done"
    finally:
        rt.close()


def test_one_leader_among_instances(store_url: str, tmp_path: Path) -> None:
    config = write_org(tmp_path, sellers=1, store_url=store_url)
    a = Runtime.open(load_settings(config))
    b = Runtime.open(load_settings(config))
    la, lb = Leadership(a), Leadership(b)
    try:
        assert la.try_acquire()
        assert not lb.try_acquire(), "a second instance must wait"
        la.release()
        assert lb.try_acquire(), "the standby takes over when the leader goes"
    finally:
        la.release()
        lb.release()
        a.close()
        b.close()


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = write_org(tmp_path, sellers=2)
    env = {**os.environ, "COACHPASS_NOW": NOW.isoformat(), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from scheduler.cli.main import main; main()",
            "--config",
            str(config),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "serving:" in line:
            break
    assert any("serving:" in line for line in lines), "".join(lines)
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("serve did not stop on SIGTERM")
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopping" in out
