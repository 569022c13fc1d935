"""`sessions list --json` says who settled each held or no-show session (`source`),
as the report counts it; `verified` stays for older scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.model import SessionState
from scheduler.sessions.actions import mark_session
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from tests.orgs import run_cli
from tests.sessions.test_attendance_reconcile import (
    BOOKED_AT,
    MONTH,
    after_all,
    open_runtime,
    report,
    sessions,
    write_two_teams,
)


def test_source_tells_provider_manager_and_presumed_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_two_teams(tmp_path)
    rt, _recording = open_runtime(config)
    try:
        book_month(rt, MONTH, BOOKED_AT)
        code, out, err = run_cli(["--config", str(config), "sessions", "list", "--json"], capsys)
        assert code == 0, err
        assert {(r["state"], r["source"]) for r in json.loads(out)} == {("booked", None)}
        s = sessions(rt)
        report(rt, s["s1"], boss=[(0, 45)], s1=[(0, 45)])  # verified held
        report(rt, s["s2"], boss=[(0, 45)])  # verified no-show
        end = after_all(rt)
        reconcile(rt, end)
        mark_session(rt, s["s3"].key, SessionState.HELD, now=end, note="good")
        mark_session(rt, s["s4"].key, SessionState.NO_SHOW, now=end, note="sick")
    finally:
        rt.close()
    code, out, err = run_cli(
        ["--config", str(config), "sessions", "list", "--month", str(MONTH), "--json"], capsys
    )
    assert code == 0, err
    rows = {r["seller"]: r for r in json.loads(out)}
    got = {k: (rows[k]["state"], rows[k]["source"], rows[k]["verified"]) for k in rows}
    assert got["s1"] == ("held", "provider", True)
    assert got["s2"] == ("no_show", "provider", True)
    assert got["s3"] == ("held", "manager", True)
    assert got["s4"] == ("no_show", "manager", True)
    assert got["s5"] == ("held", "presumed", False)
