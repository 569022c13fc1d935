"""`coachpass demo` end to end, the way a new user runs it: a month planned, booked,
followed up, rebooked and reported on local ICS calendars with an outbox."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import icalendar
from click.testing import CliRunner

from scheduler.cli.main import cli
from scheduler.model import Month, SessionState
from scheduler.report.outcomes import Source, outcome_source
from scheduler.runtime import Runtime
from scheduler.settings.load import load_settings


def test_demo_runs_a_whole_month(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(folder), "--month", "2031-03"])
    assert result.exit_code == 0, result.output
    assert "booked again: 0 created" in result.output
    assert "verified by the meeting report" in result.output
    assert "Sessions held: " in result.output and "presumed (the time passed)" in result.output
    assert "Sessions no-show: " in result.output and "recorded by the manager" in result.output

    settings = load_settings(folder / "coachpass.yaml")
    people = settings.organisation.people()
    assert len(settings.organisation.teams) == 3
    assert all(10 <= len(t.sellers) <= 15 for t in settings.organisation.teams)
    assert {p.country for p in people} >= {"SE", "US", "DE"}

    rt = Runtime.open(settings)
    try:
        sessions = rt.store.sessions(month=Month(2031, 3))
        states = {s.state for s in sessions}
        assert {
            SessionState.HELD,
            SessionState.DECLINED,
            SessionState.CANCELLED,
            SessionState.NO_SHOW,
        } <= states
        assert any(s.moved for s in sessions)
        # The three kinds of outcome, apart: verified by the meeting reports (held and
        # no-show), marked by a manager, presumed.
        history = rt.store.history(month=Month(2031, 3))
        sources = {
            (s.state, outcome_source(s, [h for h in history if h.key == s.key])) for s in sessions
        }
        assert {
            (SessionState.HELD, Source.PROVIDER),
            (SessionState.NO_SHOW, Source.PROVIDER),
            (SessionState.HELD, Source.MANAGER),
            (SessionState.NO_SHOW, Source.MANAGER),
            (SessionState.HELD, Source.PRESUMED),
        } <= sources
        assert any(h.detail.startswith("attendance: ") for h in history)
        assert any(s.attempt == 2 for s in sessions), "declines were rebooked"
        # One event per session key in the organisers' calendars, never two.
        for team in settings.organisation.teams:
            path = folder / "calendars" / team.manager.calendar_id
            cal = icalendar.Calendar.from_ical(path.read_bytes())
            tags = [
                str(ev["X-COACHPASS-SESSION"])
                for ev in cal.walk("VEVENT")
                if "X-COACHPASS-SESSION" in ev
            ]
            assert len(tags) == len(set(tags))
            assert set(tags) == {
                s.key
                for s in sessions
                if s.manager_id == team.manager.id and s.state is not SessionState.UNBOOKABLE
            }
        # Every seller with a held session had it inside their calendar too.
        held = [s for s in sessions if s.state is SessionState.HELD]
        for s in held[:5]:
            seller = rt.person(s.seller_id)
            assert seller is not None
            text = (folder / "calendars" / seller.calendar_id).read_text()
            assert s.key in text
    finally:
        rt.close()

    # A plain .ics per person that other tools can read.
    assert len(list((folder / "calendars").glob("*.ics"))) == len(people)
    reports = []
    for eml in (folder / "outbox").glob("*.eml"):
        msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
        if msg["X-Coachpass-Report"]:
            reports.append(msg)
    text = reports[0].get_body(("plain",))
    assert text is not None
    content = " ".join(text.get_content().split())
    for words in (
        "Coached: attendance verified",
        "Coached: presumed",
        "Coached: marked by manager",
        "no-show (attendance verified)",
        "Attendance verified = the meeting's attendance report",
        "together for at least 15 minutes",
    ):
        assert words in content, words
    assert sorted(m["To"] for m in reports) == [
        "Karin Sales-Director <karin@demo.coachpass.example>"
        if "<" in reports[0]["To"]
        else "karin@demo.coachpass.example",
        "Per CEO <per@demo.coachpass.example>"
        if "<" in reports[0]["To"]
        else "per@demo.coachpass.example",
    ]


def test_demo_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path), "--month", "2031-03"])
    assert result.exit_code != 0
    assert (tmp_path / "precious.txt").read_text() == "keep me"
