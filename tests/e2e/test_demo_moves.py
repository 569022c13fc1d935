"""The demo's simulated manager moves land on times both people are free: after the
whole demo month, no live session overlaps any other busy time of its manager or seller
(other sessions, "Proposal work", a "1:1"), read back from the calendars themselves."""

from __future__ import annotations

from pathlib import Path

from scheduler.demo.run import run_demo
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import month_window
from scheduler.settings.load import load_settings

MONTH = Month(2031, 3)


def test_moved_sessions_overlap_nothing_in_either_calendar(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", MONTH, echo=lambda _line: None)
    config = result["config"]
    assert isinstance(config, Path)
    rt = Runtime.open(load_settings(config))
    try:
        records = rt.store.sessions(org_id=rt.org.id, month=MONTH)
        history = rt.store.history(org_id=rt.org.id, month=MONTH)
        moved = {c.key for c in history if c.to_state is SessionState.RESCHEDULED}
        assert moved, "the demo moves some sessions"
        live = [
            r
            for r in records
            if r.start is not None
            and r.end is not None
            and r.state in (SessionState.HELD, SessionState.NO_SHOW, SessionState.RESCHEDULED)
        ]
        start, end = month_window(MONTH)
        people = rt.org.people()
        busy = rt.connector("local").busy([p.calendar() for p in people], start, end).intervals
        clashes = []
        for rec in live:
            assert rec.start is not None and rec.end is not None
            for pid in (rec.manager_id, rec.seller_id):
                for b in busy[pid]:
                    same = b.start == rec.start and b.end == rec.end
                    if not same and b.start < rec.end and rec.start < b.end:
                        clashes.append((rec.key in moved, pid, rec.start, b.start, b.end))
        assert clashes == []
        # The moved sessions stay in their month.
        assert all(r.start is not None and r.start.month == 3 for r in live if r.key in moved)
    finally:
        rt.close()
