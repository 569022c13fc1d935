"""What settling attendance costs a reconcile: connector calls and store time.

    .venv/bin/python benchmarks/attendance.py                  # 700 managers x 15 sellers
    .venv/bin/python benchmarks/attendance.py --managers 100 --sellers 15

Every seller has a session that ended two hours ago, presumed held. A connector that
answers from memory (both people in the meeting for 40 minutes, or pending for every
tenth session) stands in for the provider, so the figures are Coachpass's own: the
connector calls (one per connector with sessions due; what a call costs in provider
requests is the connector's), and the time of

- the first run, which asks about every session and settles nine in ten;
- the next run, which asks again only about the pending ones;
- a quiet run, after the pending ones settled too: nothing is due, no call is made
  (issue 14: a quiet reconcile at most 1.0 request per manager; attendance adds 0).

The store writes each connector's answers in one transaction.

Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import (
    Attendance,
    AttendanceAnswer,
    AttendanceStatus,
    MeetingQuery,
)
from scheduler.model import Month, SessionState, session_key
from scheduler.runtime import Runtime
from scheduler.sessions.attendance import settle_attendance
from scheduler.settings.load import load_settings
from scheduler.store.schema import sessions

MONTH = Month(2031, 3)
END = datetime(2031, 3, 12, 10, 0, tzinfo=UTC)
NOW = END + timedelta(hours=2)


class MemoryMeetings:
    """Answers attendance from memory; `pending` keys are not reported yet."""

    name = "local"

    def __init__(self) -> None:
        self.calls = 0
        self.pending: set[str] = set()

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        self.calls += 1
        results = {}
        for q in queries:
            if q.key in self.pending:
                results[q.key] = Attendance(q.key, AttendanceStatus.PENDING)
                continue
            span = ((q.start, q.start + timedelta(minutes=40)),)
            presence = {p.email.lower(): span for p in q.people}
            results[q.key] = Attendance(q.key, AttendanceStatus.MET, presence)
        return AttendanceAnswer(results)

    def close(self) -> None:
        pass


def write_config(folder: Path, managers: int, sellers: int) -> Path:
    def person(pid: str) -> dict[str, str]:
        return {"id": pid, "name": pid.title(), "email": f"{pid}@example.com"}

    teams = [
        {
            "id": f"t{m}",
            "name": f"Team {m}",
            "manager": person(f"m{m}"),
            "sellers": [person(f"m{m}s{s}") for s in range(sellers)],
        }
        for m in range(managers)
    ]
    (folder / "calendars").mkdir()
    config = {
        "organisation": {"id": "acme", "name": "Acme", "timezone": "UTC", "country": "SE"},
        "teams": teams,
        "connectors": {"local": {"path": "calendars"}},
        "store": {"url": "sqlite:///coachpass.db"},
    }
    path = folder / "coachpass.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def seed(rt: Runtime) -> list[str]:
    """Every seller's session, presumed held, written in one transaction."""
    rows = []
    for team in rt.org.teams:
        for seller in team.sellers:
            key = session_key(rt.org.id, team.manager.id, seller.id, MONTH, 1)
            rows.append(
                {
                    "key": key,
                    "org_id": rt.org.id,
                    "team_id": team.id,
                    "manager_id": team.manager.id,
                    "seller_id": seller.id,
                    "month": str(MONTH),
                    "attempt": 1,
                    "state": SessionState.HELD.value,
                    "start_at": END - timedelta(minutes=45),
                    "end_at": END,
                    "event_id": key,
                    "connector": "local",
                    "reason": "",
                    "note": "",
                    "followups": "",
                    "verified": False,
                    "moved": False,
                    "created_at": END - timedelta(days=20),
                    "updated_at": END,
                }
            )
    with rt.store.engine.begin() as conn:
        conn.execute(insert(sessions), rows)
    return [r["key"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--managers", type=int, default=700)
    parser.add_argument("--sellers", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(write_config(Path(tmp), args.managers, args.sellers))
        rt = Runtime.open(settings)
        meetings = MemoryMeetings()
        rt._connectors["local"] = meetings  # type: ignore[assignment]
        try:
            keys = seed(rt)
            meetings.pending = set(keys[::10])
            print(f"{args.managers} managers x {args.sellers} sellers: {len(keys)} sessions due")
            for label, at in (
                ("first run", NOW),
                ("next run", NOW + timedelta(minutes=30)),
                ("quiet run", NOW + timedelta(hours=1)),
            ):
                meetings.calls = 0
                started = time.perf_counter()
                run = settle_attendance(rt, at)
                took = time.perf_counter() - started
                print(
                    f"{label:10} asked {run.asked:6} sessions, {len(run.verdicts):6} verified, "
                    f"{meetings.calls} connector calls, {took:6.2f} s"
                )
                meetings.pending.clear()
        finally:
            rt.close()


if __name__ == "__main__":
    main()
