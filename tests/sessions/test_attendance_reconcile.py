"""Reconcile turns meeting attendance into verified outcomes, on real stores and the
local connector reading meeting reports (`attendance_dir`): who was there and for how
long decides held or no-show; what cannot be told stays presumed; a manager's mark is
never overridden; a settled session is never asked again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.base import (
    Attendance,
    AttendanceAnswer,
    AttendanceStatus,
    CalendarConnector,
    ConnectorUserError,
    MeetingQuery,
)
from scheduler.model import Month, SessionRecord, SessionState
from scheduler.report.outcomes import Source, outcome_source
from scheduler.runtime import Runtime
from scheduler.sessions.actions import mark_session
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings
from scheduler.store.attendance import AttendanceNote, record_attendance
from tests.orgs import EMPTY_ICS, person, run_cli

MONTH = Month(2031, 3)
BOOKED_AT = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
PERMISSION = "permission missing: grant OnlineMeetingArtifact.Read.All to the app"


def write_two_teams(folder: Path, store_url: str | None = None) -> Path:
    """Team one (boss, s1..s8) and team two (boss2, s9, s10), local calendars with a
    meeting-report folder; sessions between the 3rd and the 14th so one asking window
    of 20 days covers them all."""
    cal = folder / "calendars"
    cal.mkdir(parents=True, exist_ok=True)
    (folder / "meetings").mkdir()
    one = [person("boss")] + [person(f"s{i}") for i in range(1, 9)]
    two = [person("boss2")] + [person(f"s{i}") for i in (9, 10)]
    for p in one + two:
        (cal / p["calendar"]).write_text(EMPTY_ICS.format(email=p["email"]))
    config = {
        "organisation": {
            "id": "acme",
            "name": "Acme",
            "timezone": "Europe/Stockholm",
            "country": "SE",
            "language": "en",
        },
        "policy": {
            "session_minutes": 45,
            "lead_time_hours": 24,
            "earliest_day": 3,
            "latest_day": 14,
            "max_sessions_per_manager_day": 4,
            "working_hours": {"start": "09:00", "end": "17:00"},
            "attendance": {"min_minutes_together": 15, "keep_asking_days": 20},
        },
        "teams": [
            {"id": "t1", "name": "One", "manager": one[0], "sellers": one[1:]},
            {"id": "t2", "name": "Two", "manager": two[0], "sellers": two[1:]},
        ],
        "connectors": {
            "local": {"path": "calendars", "outbox": "outbox", "attendance_dir": "meetings"}
        },
        "mail": {"from": "Coachpass <coachpass@example.com>", "outbox": "outbox"},
        "store": {"url": store_url or "sqlite:///coachpass.db"},
    }
    path = folder / "coachpass.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Recording:
    """The real connector, recording each attendance call; `broken` organisers'
    calls fail as a provider without the permission does, `answers` replace the
    connector's answer for some keys (statuses the local reports cannot say)."""

    def __init__(self, inner: CalendarConnector) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[list[str]] = []
        self.broken: set[str] = set()
        self.key_errors: dict[str, str] = {}
        self.answers: dict[str, Attendance] = {}

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        self.calls.append([q.key for q in queries])
        if {q.organizer.person_id for q in queries} & self.broken:
            raise ConnectorUserError(PERMISSION)
        answer = self.inner.attendance(queries)
        results = {k: v for k, v in answer.results.items() if k not in self.key_errors}
        results.update({k: v for k, v in self.answers.items() if k in results})
        return AttendanceAnswer(results, {**answer.errors, **self.key_errors})

    def asked(self) -> set[str]:
        return {k for call in self.calls for k in call}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def open_runtime(config: Path) -> tuple[Runtime, Recording]:
    rt = Runtime.open(load_settings(config))
    recording = Recording(rt.connector("local"))
    rt._connectors["local"] = recording  # type: ignore[assignment]
    return rt, recording


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    rt, recording = open_runtime(write_two_teams(tmp_path))
    book_month(rt, MONTH, BOOKED_AT)
    yield rt, recording
    rt.close()


def sessions(rt: Runtime) -> dict[str, SessionRecord]:
    return {r.seller_id: r for r in rt.store.sessions(month=MONTH)}


def report(rt: Runtime, rec: SessionRecord, status: str = "met", **presence: Any) -> None:
    """A meeting report as a meeting tool drops it: minutes after the session's start."""
    assert rec.start is not None

    def iso(minute: int) -> str:
        return (rec.start + timedelta(minutes=minute)).isoformat()  # type: ignore[operator]

    body = {
        "status": status,
        "presence": {
            f"{who}@example.com": [{"join": iso(a), "leave": iso(b)} for a, b in spans]
            for who, spans in presence.items()
        },
    }
    path = rt.settings.base_dir / "meetings" / f"{rec.key}.json"
    path.write_text(json.dumps(body))


def after_all(rt: Runtime, hours: int = 2) -> datetime:
    return max(r.end for r in rt.store.sessions(month=MONTH) if r.end) + timedelta(hours=hours)


def history(rt: Runtime, key: str) -> list[str]:
    return [h.detail for h in rt.store.history(keys=[key])]


def test_attendance_settles_verified_outcomes(world: tuple[Runtime, Recording]) -> None:
    rt, recording = world
    s = sessions(rt)
    assert len(s) == 10 and all(r.state is SessionState.BOOKED for r in s.values())
    report(rt, s["s1"], boss=[(0, 45)], s1=[(2, 44)])  # both present
    report(rt, s["s2"], boss=[(0, 45)])  # seller absent
    report(rt, s["s3"], s3=[(0, 45)])  # manager absent
    report(rt, s["s4"], boss=[(0, 45)], s4=[(0, 10)])  # too short together
    report(rt, s["s5"], boss=[(0, 45)], s5=[(0, 8), (12, 22)])  # rejoined: 8 + 10
    report(rt, s["s6"], "not_held")
    # s7: no report yet (pending); s8: the provider no longer keeps it
    recording.answers[s["s8"].key] = Attendance(s["s8"].key, AttendanceStatus.EXPIRED, {}, "gone")
    report(rt, s["s8"], boss=[(0, 45)], s8=[(0, 45)])  # what it said before it expired
    report(rt, s["s9"], boss2=[(0, 45)], s9=[(0, 45)])  # boss2's provider: no permission
    recording.broken.add("boss2")

    summary = reconcile(rt, after_all(rt))
    got = sessions(rt)
    states = {seller: (r.state, r.verified) for seller, r in got.items()}
    assert states == {
        "s1": (SessionState.HELD, True),
        "s2": (SessionState.NO_SHOW, True),
        "s3": (SessionState.NO_SHOW, True),
        "s4": (SessionState.HELD, False),
        "s5": (SessionState.HELD, True),
        "s6": (SessionState.NO_SHOW, True),
        "s7": (SessionState.HELD, False),
        "s8": (SessionState.HELD, False),
        "s9": (SessionState.HELD, False),
        "s10": (SessionState.HELD, False),
    }
    # The detail says what the provider showed, and who was missing.
    assert "the seller (s2@example.com)" in history(rt, got["s2"].key)[-1]
    assert "the manager (boss@example.com)" in history(rt, got["s3"].key)[-1]
    assert "did not take place" in history(rt, got["s6"].key)[-1]
    assert history(rt, got["s5"].key)[-1].startswith("attendance: ")
    assert "18 min" in history(rt, got["s5"].key)[-1]
    for seller in ("s1", "s2", "s5"):
        rec = got[seller]
        assert outcome_source(rec, rt.store.history(keys=[rec.key])) is Source.PROVIDER
    assert outcome_source(got["s4"], rt.store.history(keys=[got["s4"].key])) is Source.PRESUMED
    # Settled: every final answer; not s7 (pending), s9 and s10 (could not be read).
    settled = {seller for seller, r in got.items() if r.attendance_settled_at is not None}
    assert settled == {"s1", "s2", "s3", "s4", "s5", "s6", "s8"}
    assert got["s4"].attendance_status == "met" and "only 10 min" in got["s4"].attendance_detail
    assert got["s8"].attendance_status == "expired"
    # The permission error is listed once, naming the manager and what to grant.
    assert [e for e in summary.errors if "Boss2" in e] == [
        e for e in summary.errors if PERMISSION in e
    ]
    assert len(summary.errors) == 1 and "2 session(s) of Boss2" in summary.errors[0]
    assert "not read: " + PERMISSION in got["s9"].attendance_detail
    verdicts = [t for t in summary.transitions if t.detail.startswith("attendance: ")]
    assert {t.seller_id for t in verdicts} == {"s1", "s2", "s3", "s5", "s6"}
    # One call for everything due; when it failed, one per organiser, so boss2's
    # missing permission does not stop boss's sessions.
    assert [len(c) for c in recording.calls] == [10, 8, 2]

    # Next run: only what is not settled is asked again; the pending one now has
    # its report, and boss2's provider has been granted the permission.
    report(rt, got["s7"], boss=[(0, 45)], s7=[(0, 30)])
    recording.broken.clear()
    recording.calls.clear()
    summary = reconcile(rt, after_all(rt, hours=3))
    assert recording.asked() == {got[s].key for s in ("s7", "s9", "s10")}
    assert summary.errors == ()
    got = sessions(rt)
    assert (got["s7"].state, got["s7"].verified) == (SessionState.HELD, True)
    assert (got["s9"].state, got["s9"].verified) == (SessionState.HELD, True)
    assert got["s10"].attendance_status == "pending" and got["s10"].attendance_settled_at is None

    # A quiet run asks about nothing settled: only s10, still pending.
    recording.calls.clear()
    assert reconcile(rt, after_all(rt, hours=4)).transitions == ()
    assert recording.calls == [[got["s10"].key]]


def test_a_managers_mark_is_never_overridden(world: tuple[Runtime, Recording]) -> None:
    rt, _recording = world
    s = sessions(rt)
    end = after_all(rt)
    reconcile(rt, end - timedelta(hours=1, minutes=30))  # every session ended: presumed
    mark_session(rt, s["s1"].key, SessionState.NO_SHOW, now=end, note="called in sick")
    mark_session(rt, s["s2"].key, SessionState.HELD, now=end, note="good")
    report(rt, s["s1"], boss=[(0, 45)], s1=[(0, 45)])  # the provider says both were there
    report(rt, s["s2"], "not_held")
    before = {k: history(rt, s[k].key) for k in ("s1", "s2")}
    reconcile(rt, end + timedelta(hours=1))
    got = sessions(rt)
    assert (got["s1"].state, got["s2"].state) == (SessionState.NO_SHOW, SessionState.HELD)
    assert {k: history(rt, s[k].key) for k in ("s1", "s2")} == before
    assert outcome_source(got["s1"], rt.store.history(keys=[got["s1"].key])) is Source.MANAGER


def test_a_mark_in_the_history_protects_the_session_in_the_store(
    world: tuple[Runtime, Recording],
) -> None:
    """The store's own guard, for a session a manager marked while the provider was
    being asked: the verdict is not applied, whatever the session's flags say."""
    rt, _recording = world
    rec = sessions(rt)["s1"]
    end = after_all(rt)
    mark_session(rt, rec.key, SessionState.HELD, now=end)
    rt.store.set_fields(rec.key, now=end, verified=False)  # as an older version left it
    note = AttendanceNote(rec.key, "not_held", "x", True, SessionState.NO_SHOW, "attendance: x")
    applied = record_attendance(rt.store, [note], now=end, protected_prefix="marked")
    assert applied == set() and rt.store.get(rec.key).state is SessionState.HELD  # type: ignore[union-attr]
    # A session another instance settled first keeps that instance's word.
    other = sessions(rt)["s2"]
    held = AttendanceNote(other.key, "met", "a", True, SessionState.HELD, "attendance: a")
    late = AttendanceNote(other.key, "not_held", "b", True, SessionState.NO_SHOW, "attendance: b")
    assert record_attendance(rt.store, [held], now=end, protected_prefix="marked") == {other.key}
    assert record_attendance(rt.store, [late], now=end, protected_prefix="marked") == set()
    got = rt.store.get(other.key)
    assert got is not None and (got.state, got.attendance_detail) == (SessionState.HELD, "a")
    assert history(rt, other.key)[-1] == "attendance: a"


def test_nothing_is_asked_before_the_provider_delay_or_after_the_window(
    world: tuple[Runtime, Recording],
) -> None:
    rt, recording = world
    first = min((r for r in sessions(rt).values()), key=lambda r: r.end)  # type: ignore[arg-type, return-value]
    assert first.end is not None
    reconcile(rt, first.end + timedelta(minutes=59))
    assert first.key not in recording.asked()
    reconcile(rt, first.end + timedelta(minutes=61))
    assert first.key in recording.asked()
    recording.calls.clear()
    reconcile(rt, first.end + timedelta(days=20, minutes=1))
    assert first.key not in recording.asked(), "past keep_asking_days"


def test_no_verdict_is_taken_from_not_held_while_the_calendar_is_unread(
    world: tuple[Runtime, Recording],
) -> None:
    """A session still booked after its end (its calendar could not be read) may
    have been cancelled: "nobody joined" is not a no-show until reconcile has seen
    it; a meeting both attended is held whatever the calendar says."""
    rt, _recording = world
    s = sessions(rt)
    report(rt, s["s1"], "not_held")
    report(rt, s["s2"], boss=[(0, 45)], s2=[(0, 45)])
    calendar = rt.settings.base_dir / "calendars" / "boss.ics"
    text = calendar.read_text()
    calendar.write_text("not a calendar")
    summary = reconcile(rt, after_all(rt))
    got = sessions(rt)
    assert got["s1"].state is SessionState.BOOKED and got["s1"].attendance_settled_at is None
    assert (got["s2"].state, got["s2"].verified) == (SessionState.HELD, True)
    assert any("not read" in e for e in summary.errors)
    calendar.write_text(text)
    reconcile(rt, after_all(rt, hours=3))
    got = sessions(rt)
    assert (got["s1"].state, got["s1"].verified) == (SessionState.NO_SHOW, True)


def test_a_key_error_is_listed_and_the_others_settle(world: tuple[Runtime, Recording]) -> None:
    rt, recording = world
    s = sessions(rt)
    report(rt, s["s1"], boss=[(0, 45)], s1=[(0, 45)])
    report(rt, s["s2"], boss=[(0, 45)], s2=[(0, 45)])
    recording.key_errors[s["s1"].key] = "the meeting record could not be read (HTTP 503)"
    summary = reconcile(rt, after_all(rt))
    got = sessions(rt)
    assert (got["s1"].state, got["s1"].verified) == (SessionState.HELD, False)
    assert (got["s2"].state, got["s2"].verified) == (SessionState.HELD, True)
    assert summary.errors == (
        f"attendance of session {s['s1'].key} (s1, {MONTH}) not read: the meeting record "
        f"could not be read (HTTP 503); it stays held until it can be read",
    )


def test_a_malformed_report_is_an_error_naming_file_and_field(
    world: tuple[Runtime, Recording],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt, _recording = world
    s = sessions(rt)
    path = rt.settings.base_dir / "meetings" / f"{s['s1'].key}.json"
    path.write_text(json.dumps({"status": "met", "presence": {"boss@example.com": [{"join": 1}]}}))
    report(rt, s["s2"], boss=[(0, 45)], s2=[(0, 45)])
    monkeypatch.setenv("COACHPASS_NOW", after_all(rt).isoformat())
    rt.close()
    # Through the CLI: exit 3 (partial), the problem listed, no traceback.
    code, _out, err = run_cli(
        ["--config", str(rt.settings.source), "reconcile", "--no-rebook"], capsys
    )
    assert code == 3 and "Traceback" not in err
    assert f"{path}: presence.boss@example.com[0]: must be an object" in err
    rt2 = Runtime.open(rt.settings)
    try:
        got = {r.seller_id: r for r in rt2.store.sessions(month=MONTH)}
    finally:
        rt2.close()
    assert (got["s1"].state, got["s1"].verified) == (SessionState.HELD, False)
    assert "presence.boss@example.com[0]" in got["s1"].attendance_detail
    assert got["s2"].verified


def test_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    rt, recording = open_runtime(write_two_teams(tmp_path, store_url=pg_url))
    try:
        book_month(rt, MONTH, BOOKED_AT)
        s = sessions(rt)
        report(rt, s["s1"], boss=[(0, 20), (25, 45)], s1=[(0, 45)])
        report(rt, s["s2"], boss=[(0, 45)])
        reconcile(rt, after_all(rt))
        got = sessions(rt)
        assert (got["s1"].state, got["s1"].verified) == (SessionState.HELD, True)
        assert (got["s2"].state, got["s2"].verified) == (SessionState.NO_SHOW, True)
        recording.calls.clear()
        reconcile(rt, after_all(rt, hours=3))
        assert not {got["s1"].key, got["s2"].key} & recording.asked()
    finally:
        rt.close()
