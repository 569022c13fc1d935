"""Issue 11 end to end on Outlook: sessions booked through `book_month` with the real
connector (msal + httpx) against the fake Graph, which makes each event's Teams
meeting; attendance reports seeded for the booked join links; then `reconcile`. The
store's outcome and its source, and the report's source, are what is checked.

One clock is "now" for the connector, the fake's meetings (reports expire by it) and
reconcile."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.outlook import connector as outlook_connector
from connectors.outlook.connector import OutlookConnector
from scheduler.model import SessionRecord, SessionState
from scheduler.report.outcomes import Outcome, Source
from scheduler.runtime import Runtime
from scheduler.sessions.actions import mark_session
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import ReconcileSummary, reconcile
from scheduler.settings.load import load_settings
from tests.fakes import graph_meetings
from tests.fakes.graph_client import SECRET_ENV, connect
from tests.fakes.graph_entra import CLIENT_ID
from tests.fakes.graph_meetings import object_id
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph
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

ROLES = {"OnlineMeetings.Read.All", "OnlineMeetingArtifact.Read.All"}
Spans = Sequence[tuple[float, float]]


@dataclass
class World:
    rt: Runtime
    fake: FakeGraph
    clock: Clock
    base: Path

    def connect(self, **options: Any) -> None:
        """A connector as a new run opens it."""
        old = self.rt._connectors.get("outlook")
        if isinstance(old, OutlookConnector):
            old.close()
        # The fake is reached through its loopback transport, which config cannot name.
        self.rt._connectors["outlook"] = connect(self.fake, self.base, clock=self.clock, **options)

    def report(self, rec: SessionRecord, **people: Spans) -> None:
        """Teams made an attendance report for the session's meeting with `people`
        (pid -> minutes after the start)."""
        assert rec.video_url, rec.key
        spans = [s for one in people.values() for s in one]
        seeds = [(email(p), [(at(rec, a), at(rec, b)) for a, b in s]) for p, s in people.items()]
        self.fake.add_attendance(
            rec.video_url,
            at(rec, min(a for a, _ in spans)),
            at(rec, max(b for _, b in spans)),
            seeds,
        )

    def reconcile(self, now: datetime) -> ReconcileSummary:
        self.clock.now = now
        return reconcile(self.rt, now)

    def meeting_calls(self) -> int:
        """Requests about online meetings, batch parts included."""
        with self.fake.lock:
            return sum(1 for _m, path, _h in self.fake.log if "onlineMeetings" in path)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    fake = FakeGraph([email(p) for p in PEOPLE]).start()
    fake.app_roles |= ROLES
    clock = Clock(BOOKED_AT)
    fake.state.meetings.now = clock
    rt = Runtime.open(load_settings(write_two_teams(tmp_path, "outlook", fake.options())))
    w = World(rt, fake, clock, tmp_path)
    w.connect()
    try:
        summary = book_month(rt, MONTH, BOOKED_AT)
        assert summary.created == 8 and not summary.failed, summary.failed
        yield w
    finally:
        connector = rt._connectors.get("outlook")
        if isinstance(connector, OutlookConnector):
            connector.close()
        rt.close()
        fake.stop()


def test_teams_attendance_settles_verified_outcomes(world: World) -> None:
    s = sessions(world.rt)
    world.report(s["s1"], boss=[(0, 45)], s1=[(2, 44)])  # both present
    world.report(s["s2"], boss=[(0, 20)])  # seller absent
    world.report(s["s3"], s3=[(3, 15)])  # manager absent
    world.report(s["s4"], boss=[(0, 45)], s4=[(0, 10)])  # too short together
    world.report(s["s5"], boss=[(0, 45)], s5=[(0, 8), (12, 22)])  # rejoined: 8 + 10
    world.report(s["s6"], boss=[(0, 45)], s6=[(0, 45)])
    world.report(s["s7"], boss2=[(0, 45)], s7=[(0, 30)])
    world.report(s["s8"], boss2=[(5, 40)], s8=[(5, 40)])
    now = after_all(world.rt)
    # The manager says s6 did not come, whatever Teams says.
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
    assert last["s4"] == "presumed held: the time passed, not cancelled"
    assert "only 10 min" in got["s4"].attendance_detail and got["s4"].attendance_settled_at
    assert last["s6"].startswith("marked")
    assert not any(h.startswith(VERIFIED) for h in history(world.rt, got["s6"]))

    # Every answer was final: the next run asks Graph nothing about meetings.
    before = world.meeting_calls()
    assert before > 0  # the first run did ask Graph
    again = world.reconcile(now + timedelta(hours=1))
    assert again.errors == () and not again.transitions
    assert world.meeting_calls() == before
    assert outcome(world.rt, sessions(world.rt)["s4"]) == HELD_PRESUMED


def test_no_report_after_the_providers_delay_is_a_verified_no_show(world: World) -> None:
    s = sessions(world.rt)
    last = max(s.values(), key=lambda r: r.end or BOOKED_AT)
    for rec in s.values():
        if rec is not last:
            boss = "boss" if rec.manager_id == "boss" else "boss2"
            world.report(rec, **{boss: [(0, 45)], rec.seller_id: [(0, 45)]})
    # Within Teams' delay (24 hours by default) a missing report may still come.
    first = world.reconcile(after_all(world.rt))
    assert first.errors == ()
    got = sessions(world.rt)
    assert outcome(world.rt, got[last.seller_id]) == HELD_PRESUMED
    assert got[last.seller_id].attendance_status == "pending"
    assert got[last.seller_id].attendance_settled_at is None
    world.reconcile(after_all(world.rt, hours=25))
    got = sessions(world.rt)
    assert outcome(world.rt, got[last.seller_id]) == NO_SHOW_VERIFIED
    assert "did not take place" in history(world.rt, got[last.seller_id])[-1]
    assert all(outcome(world.rt, r) == HELD_VERIFIED for r in got.values() if r.key != last.key)


def test_a_report_past_its_retention_stays_presumed_and_is_not_asked_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tenant that keeps attendance reports 5 days, and the connector told so.
    monkeypatch.setattr(graph_meetings, "RETENTION", timedelta(days=5))
    world.connect(attendance_retention_days=5)
    s = sessions(world.rt)
    for pid, boss in (("s1", "boss"), ("s7", "boss2")):
        world.report(s[pid], **{boss: [(0, 45)], pid: [(0, 45)]})
    summary = world.reconcile(after_all(world.rt) + timedelta(days=6))
    assert summary.errors == ()
    got = sessions(world.rt)
    assert {p: outcome(world.rt, r) for p, r in got.items()} == {p: HELD_PRESUMED for p in got}
    assert all(r.attendance_status == "expired" for r in got.values())
    assert all(r.attendance_settled_at is not None for r in got.values())
    before = world.meeting_calls()
    assert before > 0  # the first run did ask Graph
    world.reconcile(after_all(world.rt) + timedelta(days=6, hours=1))
    assert world.meeting_calls() == before


def test_no_access_policy_for_one_organiser_stops_only_their_sessions(world: World) -> None:
    s = sessions(world.rt)
    for pid, boss in (("s1", "boss"), ("s2", "boss"), ("s7", "boss2"), ("s8", "boss2")):
        world.report(s[pid], **{boss: [(0, 45)], pid: [(0, 45)]})
    world.fake.state.meetings.no_policy.add(email("boss2"))
    summary = world.reconcile(after_all(world.rt))
    got = sessions(world.rt)
    assert outcome(world.rt, got["s1"]) == HELD_VERIFIED
    assert outcome(world.rt, got["s2"]) == HELD_VERIFIED
    for pid in ("s7", "s8"):
        assert outcome(world.rt, got[pid]) == HELD_PRESUMED
        assert got[pid].attendance_settled_at is None
    refused = [e for e in summary.errors if got["s7"].key in e or got["s8"].key in e]
    assert refused and refused == list(summary.errors)
    for error in refused:
        assert "boss2@example.com" in error or object_id(email("boss2")) in error
        assert f"New-CsApplicationAccessPolicy -Identity Coachpass -AppIds {CLIENT_ID}" in error
        assert f"-Identity {object_id(email('boss2'))}" in error
        assert CLIENT_SECRET not in error

    # The policy is granted: the next run verifies what was left.
    world.fake.state.meetings.no_policy.clear()
    again = world.reconcile(after_all(world.rt, hours=3))
    assert again.errors == ()
    got = sessions(world.rt)
    assert outcome(world.rt, got["s7"]) == HELD_VERIFIED
    assert outcome(world.rt, got["s8"]) == HELD_VERIFIED


def test_a_missing_role_leaves_sessions_presumed_and_stops_nothing(world: World) -> None:
    s = sessions(world.rt)
    world.report(s["s1"], boss=[(0, 45)], s1=[(0, 45)])
    world.fake.app_roles.discard("OnlineMeetingArtifact.Read.All")
    world.connect()  # a new run: a new token, with the roles the app has now
    world.fake.cancel_by_organiser(s["s2"].key)  # cancelled in the calendar
    summary = world.reconcile(after_all(world.rt))
    got = sessions(world.rt)
    assert got["s2"].state is SessionState.CANCELLED
    assert {p: outcome(world.rt, r) for p, r in got.items() if p != "s2"} == {
        p: HELD_PRESUMED for p in got if p != "s2"
    }
    assert summary.errors
    for error in summary.errors:
        assert "lacks the application permission OnlineMeetingArtifact.Read.All" in error
        assert "admin consent" in error and CLIENT_SECRET not in error


def test_cli_reconcile_without_an_access_policy_exits_3_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `coachpass reconcile`: the connector the Runtime opens from the config
    (only the loopback transport to the fake is put in), its attendance clock the
    CLI's (COACHPASS_NOW); boss2's refusal is a message and exit 3, no traceback, and
    boss's sessions are verified in the same run."""
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    fake = FakeGraph([email(p) for p in PEOPLE]).start()
    try:
        fake.app_roles |= ROLES
        real = outlook_connector.OutlookConnector

        def with_transport(options: Any, context: Any) -> OutlookConnector:
            return real(options, context, transport=fake.transport(), sleep=lambda _s: None)

        monkeypatch.setattr(outlook_connector, "open_connector", with_transport)
        config = write_two_teams(tmp_path, "outlook", fake.options())
        monkeypatch.setenv("COACHPASS_NOW", BOOKED_AT.isoformat())
        code, _out, err = run_cli(["--config", str(config), "book", "--month", str(MONTH)], capsys)
        assert code == 0, err
        rt = Runtime.open(load_settings(config))
        try:
            s = sessions(rt)
            now = after_all(rt)
            w = World(rt, fake, Clock(now), tmp_path)
            for pid, boss in (("s1", "boss"), ("s7", "boss2")):
                w.report(s[pid], **{boss: [(0, 45)], pid: [(0, 45)]})
        finally:
            rt.close()
        fake.state.meetings.now = lambda: now
        fake.state.meetings.no_policy.add(email("boss2"))
        monkeypatch.setenv("COACHPASS_NOW", now.isoformat())
        code, out, err = run_cli(["--config", str(config), "reconcile", "--no-rebook"], capsys)
        assert code == 3, (out, err)
        assert "Traceback" not in err and CLIENT_SECRET not in out + err
        assert "Grant-CsApplicationAccessPolicy" in err and object_id(email("boss2")) in err
        assert s["s7"].key in err and s["s1"].key not in err
        rt = Runtime.open(load_settings(config))
        try:
            got = sessions(rt)
            assert outcome(rt, got["s1"]) == HELD_VERIFIED
            assert outcome(rt, got["s7"]) == HELD_PRESUMED
        finally:
            rt.close()
    finally:
        fake.stop()
