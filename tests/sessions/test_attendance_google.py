"""Issue 11 end to end on Google: sessions booked through `book_month` with the real
connector against the fake Calendar API, the Meet calls seeded in the fake's Meet v2
for the booked events' meeting codes, then `reconcile`; the store's outcome and its
source, and the report's source, are what is checked.

One clock is "now" for the connector, the fake's Meet (records expire by it) and
reconcile. Meet keeps records 30 days and `keep_asking_days` is at most 25, so an
expired record is met as a session past the asking window: it is not asked about
and stays presumed."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.google.attendance import meeting_code
from connectors.google.auth import DIRECTORY_SCOPE, MEET_SCOPE, SCOPES
from connectors.google.connector import GoogleConnector
from scheduler.model import SessionRecord, SessionState
from scheduler.report.outcomes import Outcome, Source
from scheduler.runtime import Runtime
from scheduler.sessions.actions import mark_session
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import ReconcileSummary, reconcile
from scheduler.settings.load import load_settings
from tests.fakes.google_faults import Fault
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.orgs import run_cli
from tests.sessions.attendance_world import (
    BOOKED_AT,
    HELD_PRESUMED,
    HELD_VERIFIED,
    MONTH,
    NO_SHOW_VERIFIED,
    PEOPLE,
    VERIFIED,
    Clock,
    after_all,
    at,
    email,
    history,
    outcome,
    report_rows,
    sessions,
    write_two_teams,
)

Spans = Sequence[tuple[float, float]]


@dataclass
class World:
    rt: Runtime
    fake: FakeGoogle
    clock: Clock
    options: dict[str, Any]
    base: Path

    def connect(self) -> None:
        """A connector as a new run opens it (what it learnt about tokens is gone)."""
        old = self.rt._connectors.get("google")
        if isinstance(old, GoogleConnector):
            old.close()
        self.rt._connectors["google"] = GoogleConnector(
            self.options,
            ConnectorContext(base_dir=self.base),
            sleep=RecordedSleep(),
            clock=self.clock,
        )

    def call(self, rec: SessionRecord, **people: Spans) -> str:
        """A Meet call of the session's space with `people` (pid -> minutes after the
        start); returns the record's name."""
        code = meeting_code(rec.video_url)
        assert code is not None, rec.video_url
        spans = [s for one in people.values() for s in one]
        seeds = [(email(p), [(at(rec, a), at(rec, b)) for a, b in s]) for p, s in people.items()]
        return self.fake.add_conference(
            code, at(rec, min(a for a, _ in spans)), at(rec, max(b for _, b in spans)), seeds
        )

    def reconcile(self, now: datetime) -> ReconcileSummary:
        self.clock.now = now
        return reconcile(self.rt, now)

    def meet_calls(self) -> int:
        return len(list(self.fake.api_calls(kind="/v2/")))


@pytest.fixture
def world(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> Iterator[World]:
    for p in PEOPLE:
        fake.add_user(email(p))
    clock = Clock(BOOKED_AT)
    fake.meet.clock = clock
    options = connector_options(fake, google_key_file, page_size=50)
    rt = Runtime.open(load_settings(write_two_teams(tmp_path, "google", options)))
    w = World(rt, fake, clock, options, tmp_path)
    w.connect()
    summary = book_month(rt, MONTH, BOOKED_AT)
    assert summary.created == 8 and not summary.failed, summary.failed
    try:
        yield w
    finally:
        connector = rt._connectors["google"]
        assert isinstance(connector, GoogleConnector)
        connector.close()
        rt.close()
        fake.tokens.delegated_scopes = None


def test_meet_attendance_settles_verified_outcomes(world: World) -> None:
    s = sessions(world.rt)
    world.call(s["s1"], boss=[(0, 45)], s1=[(2, 44)])  # both present
    world.call(s["s2"], boss=[(0, 20)])  # seller absent
    world.call(s["s3"], s3=[(3, 15)])  # manager absent
    world.call(s["s4"], boss=[(0, 45)], s4=[(0, 10)])  # too short together
    # Rejoined: 8 + 10 minutes together; the second part is a second call of the space.
    world.call(s["s5"], boss=[(0, 45)], s5=[(0, 8)])
    world.call(s["s5"], boss=[(12, 45)], s5=[(12, 22)])
    world.call(s["s6"], boss=[(0, 45)], s6=[(0, 45)])
    world.call(s["s7"], boss2=[(0, 45)], s7=[(0, 30)])
    world.call(s["s8"], boss2=[(5, 40)], s8=[(5, 40)])
    now = after_all(world.rt)
    # The manager says s6 did not come, whatever Meet says.
    mark_session(world.rt, s["s6"].key, SessionState.NO_SHOW, now=now, note="left early")

    summary = world.reconcile(now)
    assert summary.errors == ()
    got = sessions(world.rt)
    assert {p: outcome(world.rt, r) for p, r in got.items()} == {
        "s1": HELD_VERIFIED,
        "s2": NO_SHOW_VERIFIED,
        "s3": NO_SHOW_VERIFIED,
        "s4": HELD_PRESUMED,
        "s5": HELD_VERIFIED,
        "s6": (SessionState.NO_SHOW, True, Source.MANAGER),
        "s7": HELD_VERIFIED,
        "s8": HELD_VERIFIED,
    }
    # The report tells them apart: provider, manager, presumed.
    rows = report_rows(world.rt)
    assert rows["s1"] == (Outcome.HELD, Source.PROVIDER)
    assert rows["s2"] == rows["s3"] == (Outcome.NO_SHOW, Source.PROVIDER)
    assert rows["s4"] == (Outcome.HELD, Source.PRESUMED)
    assert rows["s6"] == (Outcome.NO_SHOW, Source.MANAGER)
    last = {p: history(world.rt, r)[-1] for p, r in got.items()}
    assert last["s1"].startswith(VERIFIED + "manager and seller in the meeting together for 42 min")
    assert last["s2"].startswith(VERIFIED) and "without the seller (s2@example.com)" in last["s2"]
    assert (
        last["s3"].startswith(VERIFIED) and "without the manager (boss@example.com)" in last["s3"]
    )
    assert last["s5"].startswith(VERIFIED) and "together for 18 min" in last["s5"]
    assert "2 call(s)" in last["s5"]  # both calls of the space were read
    assert last["s4"] == "presumed held: the time passed, not cancelled"
    assert "only 10 min" in got["s4"].attendance_detail and got["s4"].attendance_settled_at
    assert last["s6"].startswith("marked")  # the mark stands; attendance added nothing
    assert not any(h.startswith(VERIFIED) for h in history(world.rt, got["s6"]))

    # Everything got a final answer: the next run asks Meet nothing (too short included).
    assert world.meet_calls() > 0  # the first run did ask Meet
    world.fake.reset_stats()
    again = world.reconcile(now + timedelta(hours=1))
    assert again.errors == () and not again.transitions
    assert world.meet_calls() == 0
    assert outcome(world.rt, sessions(world.rt)["s4"]) == HELD_PRESUMED


def test_a_call_nobody_joined_is_a_verified_no_show(world: World) -> None:
    s = sessions(world.rt)
    world.call(s["s1"], boss=[(0, 45)], s1=[(0, 45)])
    # s2's space had no call at all around the session (only one a week before).
    code = meeting_code(s["s2"].video_url)
    assert code is not None
    week = timedelta(days=7)
    world.fake.add_conference(
        code,
        at(s["s2"], 0) - week,
        at(s["s2"], 30) - week,
        [(email("s2"), [(at(s["s2"], 0) - week, at(s["s2"], 30) - week)])],
    )
    world.reconcile(after_all(world.rt))
    got = sessions(world.rt)
    assert outcome(world.rt, got["s1"]) == HELD_VERIFIED
    assert outcome(world.rt, got["s2"]) == NO_SHOW_VERIFIED
    assert "did not take place" in history(world.rt, got["s2"])[-1]


def test_an_expired_record_is_not_asked_about_and_stays_presumed(world: World) -> None:
    s = sessions(world.rt)
    world.call(s["s1"], boss=[(0, 45)], s1=[(0, 45)])
    world.call(s["s7"], boss2=[(0, 45)], s7=[(0, 45)])
    # Nothing ran for a month: Meet has deleted the records (30 days after the calls
    # ended, by the fake's clock), and the sessions are past the asking window.
    late = after_all(world.rt) + timedelta(days=31)
    world.fake.reset_stats()
    summary = world.reconcile(late)
    assert summary.errors == ()
    assert world.meet_calls() == 0
    got = sessions(world.rt)
    assert {p: outcome(world.rt, r) for p, r in got.items()} == {p: HELD_PRESUMED for p in got}
    assert all(r.attendance_settled_at is None for r in got.values())


def test_a_token_without_the_meet_scope_leaves_sessions_presumed_and_stops_nothing(
    world: World,
) -> None:
    s = sessions(world.rt)
    for pid, boss in (("s1", "boss"), ("s7", "boss2")):
        world.call(s[pid], **{boss: [(0, 45)], pid: [(0, 45)]})
    # The Admin console grants the calendar scopes (and the directory), not Meet's.
    world.fake.tokens.delegated_scopes = frozenset({*SCOPES, DIRECTORY_SCOPE})
    world.connect()
    world.fake.store.delete(email("boss"), s["s2"].key)  # cancelled in the calendar
    world.fake.reset_stats()
    summary = world.reconcile(after_all(world.rt))
    got = sessions(world.rt)
    # Nothing else stops: the calendars were read, the cancellation is recorded and
    # every other session is presumed held.
    assert got["s2"].state is SessionState.CANCELLED
    assert {p: outcome(world.rt, r) for p, r in got.items() if p != "s2"} == {
        p: HELD_PRESUMED for p in got if p != "s2"
    }
    assert all(r.attendance_settled_at is None for r in got.values())
    assert summary.errors, "the missing scope must be said"
    for error in summary.errors:
        assert MEET_SCOPE in error and "Domain-wide delegation" in error
        assert "Traceback" not in error and "ya29." not in error and "PRIVATE KEY" not in error
    # One line per organiser (the same missing grant), naming the sellers, and one
    # refused Meet request per organiser: the others are not asked.
    assert len(summary.errors) == 2, summary.errors
    assert any("s1" in e and "7 sessions" not in e for e in summary.errors)
    assert world.meet_calls() == 2

    # Granted: the next run (a new process) reads Meet and verifies what it can.
    world.fake.tokens.delegated_scopes = None
    world.connect()
    again = world.reconcile(after_all(world.rt, hours=3))
    assert again.errors == ()
    got = sessions(world.rt)
    assert outcome(world.rt, got["s1"]) == HELD_VERIFIED
    assert outcome(world.rt, got["s7"]) == HELD_VERIFIED


def test_meet_refusing_one_organiser_stops_only_their_sessions(world: World) -> None:
    s = sessions(world.rt)
    records = {
        pid: world.call(s[pid], **{boss: [(0, 45)], pid: [(0, 45)]})
        for pid, boss in (("s1", "boss"), ("s2", "boss"), ("s7", "boss2"), ("s8", "boss2"))
    }
    # Meet refuses boss2's calls (Meet turned off for their organisational unit).
    for pid in ("s7", "s8"):
        world.fake.faults.fail_next(
            Fault(403, "PERMISSION_DENIED", "The caller does not have permission"),
            match=f"GET /v2/{records[pid]}/participants",
        )
    summary = world.reconcile(after_all(world.rt))
    got = sessions(world.rt)
    assert outcome(world.rt, got["s1"]) == HELD_VERIFIED
    assert outcome(world.rt, got["s2"]) == HELD_VERIFIED
    assert outcome(world.rt, got["s7"]) == HELD_PRESUMED
    assert outcome(world.rt, got["s8"]) == HELD_PRESUMED
    assert len(summary.errors) == 2
    for pid, error in zip(
        ("s7", "s8"), sorted(summary.errors, key=lambda e: got["s8"].key in e), strict=True
    ):
        assert got[pid].key in error and "boss2@example.com" in error
        assert MEET_SCOPE in error and "403" in error
        assert f"it stays {SessionState.HELD.value}" in error


def test_cli_reconcile_without_the_meet_scope_exits_3_naming_it(
    fake: FakeGoogle,
    google_key_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through `coachpass reconcile`: the connector opened from the config, its
    attendance clock the CLI's (COACHPASS_NOW), the refusal a message, not a traceback."""
    for p in PEOPLE:
        fake.add_user(email(p))
    config = write_two_teams(
        tmp_path, "google", connector_options(fake, google_key_file, page_size=50)
    )
    monkeypatch.setenv("COACHPASS_NOW", BOOKED_AT.isoformat())
    code, _out, err = run_cli(["--config", str(config), "book", "--month", str(MONTH)], capsys)
    assert code == 0, err
    rt = Runtime.open(load_settings(config))
    try:
        s = sessions(rt)
        now = after_all(rt)
    finally:
        rt.close()
    for pid, boss in (("s1", "boss"), ("s7", "boss2")):
        code_ = meeting_code(s[pid].video_url)
        assert code_ is not None
        fake.add_conference(
            code_, at(s[pid], 0), at(s[pid], 45), [(email(boss), [(at(s[pid], 0), at(s[pid], 45))])]
        )
    fake.meet.clock = lambda: now
    fake.tokens.delegated_scopes = frozenset({*SCOPES, DIRECTORY_SCOPE})
    monkeypatch.setenv("COACHPASS_NOW", now.isoformat())
    try:
        code, out, err = run_cli(["--config", str(config), "reconcile", "--no-rebook"], capsys)
    finally:
        fake.tokens.delegated_scopes = None
    assert code == 3, (out, err)
    assert "Traceback" not in err and "ya29." not in err + out
    assert MEET_SCOPE in err and "Domain-wide delegation" in err
    # One line per organiser, naming their sellers (not a line per session).
    assert "sessions (s1, " in err and "sessions (s7, s8)" in err
    rt = Runtime.open(load_settings(config))
    try:
        got = sessions(rt)
        assert {p: outcome(rt, r) for p, r in got.items()} == {p: HELD_PRESUMED for p in got}
    finally:
        rt.close()
