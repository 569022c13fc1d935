"""Meeting reports turned on after sessions were already asked about: an
"unsupported" answer describes the back end as it was configured, so it never settles
a session; the sessions still inside `keep_asking_days` are verified once reports
exist."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from scheduler.model import SessionState
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from tests.sessions.test_attendance_reconcile import (
    BOOKED_AT,
    MONTH,
    after_all,
    open_runtime,
    report,
    sessions,
    write_two_teams,
)


def _without_reports(config: Path) -> None:
    data = yaml.safe_load(config.read_text())
    del data["connectors"]["local"]["attendance_dir"]
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def test_enabling_reports_later_verifies_sessions_inside_the_window(tmp_path: Path) -> None:
    config = write_two_teams(tmp_path)
    with_reports = config.read_text()
    _without_reports(config)
    rt, recording = open_runtime(config)
    try:
        book_month(rt, MONTH, BOOKED_AT)
        first_run = after_all(rt)
        reconcile(rt, first_run)
        got = sessions(rt)
        assert {r.attendance_status for r in got.values()} == {"unsupported"}
        assert all(r.attendance_settled_at is None for r in got.values())
        assert all((r.state, r.verified) == (SessionState.HELD, False) for r in got.values())
        # Asked again, the same "unsupported" is not written again.
        recording.calls.clear()
        reconcile(rt, after_all(rt, hours=3))
        assert len(recording.asked()) == 10
        assert sessions(rt)["s1"].attendance_checked_at == got["s1"].attendance_checked_at
    finally:
        rt.close()

    config.write_text(with_reports)  # the admin turns meeting reports on
    rt, recording = open_runtime(config)
    try:
        report(rt, got["s1"], boss=[(0, 45)], s1=[(0, 45)])
        report(rt, got["s2"], boss=[(0, 45)])
        reconcile(rt, after_all(rt, hours=4) + timedelta(days=1))
        now = sessions(rt)
        assert (now["s1"].state, now["s1"].verified) == (SessionState.HELD, True)
        assert (now["s2"].state, now["s2"].verified) == (SessionState.NO_SHOW, True)
        assert now["s3"].attendance_status == "pending" and now["s3"].attendance_settled_at is None
    finally:
        rt.close()
