"""Shared set-up of the end-to-end attendance tests (test_attendance_google.py,
test_attendance_outlook.py): an organisation of two teams on one meeting provider,
a clock the connector, the fake and reconcile all read, and what the tests look at
afterwards (the store's state, its history, the report's source)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.model import Month, SessionRecord, SessionState
from scheduler.report.kpi import seller_months
from scheduler.report.outcomes import Outcome, Source, outcome_source
from scheduler.runtime import Runtime
from tests.orgs import person, write_org

MONTH = Month(2031, 3)
BOOKED_AT = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
TEAM_ONE = ["s1", "s2", "s3", "s4", "s5", "s6"]  # manager boss
TEAM_TWO = ["s7", "s8"]  # manager boss2
PEOPLE = ["boss", *TEAM_ONE, "boss2", *TEAM_TWO]
VERIFIED = "attendance: "


class Clock:
    """One "now" for the connector, the fake provider and reconcile."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def email(pid: str) -> str:
    return f"{pid}@example.com"


def write_two_teams(folder: Path, connector: str, options: dict[str, Any]) -> Path:
    """Team t1 (boss, s1..s6) and t2 (boss2, s7, s8) on `connector`; sessions between
    the 3rd and the 14th, so one asking window of 20 days covers them all."""

    # On Google and Outlook a person's calendar is their address.
    def on(pid: str) -> dict[str, Any]:
        return {**person(pid), "calendar": email(pid)}

    teams = [
        {
            "id": "t1",
            "name": "Team One",
            "manager": on("boss"),
            "sellers": [on(s) for s in TEAM_ONE],
        },
        {
            "id": "t2",
            "name": "Team Two",
            "manager": on("boss2"),
            "sellers": [on(s) for s in TEAM_TWO],
        },
    ]
    return write_org(
        folder,
        sellers=0,
        policy={
            "online_meeting": True,
            "earliest_day": 3,
            "latest_day": 14,
            "max_sessions_per_manager_day": 4,
            "attendance": {"min_minutes_together": 15, "keep_asking_days": 20},
        },
        extra={
            "teams": [{**t, "connector": connector} for t in teams],
            "connectors": {"local": {"path": "calendars"}, connector: options},
        },
    )


def sessions(rt: Runtime) -> dict[str, SessionRecord]:
    return {r.seller_id: r for r in rt.store.sessions(month=MONTH)}


def at(rec: SessionRecord, minutes: float) -> datetime:
    """`minutes` after the session's start, in UTC."""
    assert rec.start is not None
    return (rec.start + timedelta(minutes=minutes)).astimezone(UTC)


def after_all(rt: Runtime, hours: float = 2) -> datetime:
    return max(r.end for r in rt.store.sessions(month=MONTH) if r.end) + timedelta(hours=hours)


def history(rt: Runtime, rec: SessionRecord) -> list[str]:
    return [h.detail for h in rt.store.history(keys=[rec.key])]


def source(rt: Runtime, rec: SessionRecord) -> Source:
    """What the report says the outcome came from."""
    return outcome_source(rec, rt.store.history(keys=[rec.key]))


def report_rows(rt: Runtime) -> dict[str, tuple[Outcome, Source | None]]:
    """Each seller's month as the report counts it: the outcome and where it came from."""
    rows = seller_months(
        rt.org,
        MONTH,
        rt.store.sessions(org_id=rt.org.id, month=MONTH),
        rt.store.history(org_id=rt.org.id, month=MONTH),
    )
    return {row.seller_id: (row.outcome, row.source) for row, _records in rows}


def outcome(rt: Runtime, rec: SessionRecord) -> tuple[SessionState, bool, Source]:
    return rec.state, rec.verified, source(rt, rec)


HELD_VERIFIED = (SessionState.HELD, True, Source.PROVIDER)
NO_SHOW_VERIFIED = (SessionState.NO_SHOW, True, Source.PROVIDER)
HELD_PRESUMED = (SessionState.HELD, False, Source.PRESUMED)
