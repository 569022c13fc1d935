"""`book` after a `plan` of the same inputs takes the stored plan instead of solving
again; a team whose inputs changed in any way is planned anew, and what is reused
is exactly what the planner would compute now."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from scheduler.model import Month, SessionRecord, SessionState, session_key
from scheduler.planning import planner
from scheduler.planning.problem import TeamPlan, TeamProblem
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month, build_problems, plan_month
from scheduler.settings.load import load_settings
from tests.orgs import EMPTY_ICS, person, run_cli, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Two teams on local calendars: t1 (boss, s1-s3) and t2 (chef, c1-c3)."""
    path = write_org(tmp_path, sellers=3)
    data = yaml.safe_load(path.read_text())
    second = [person("chef")] + [person(f"c{i}") for i in range(1, 4)]
    for p in second:
        (tmp_path / "calendars" / p["calendar"]).write_text(EMPTY_ICS.format(email=p["email"]))
    data["teams"].append(
        {"id": "t2", "name": "Team Two", "manager": second[0], "sellers": second[1:]}
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def opened(config: Path) -> Iterator[Callable[[], Runtime]]:
    """Opens the organisation as it is configured now (closed at the end)."""
    runtimes: list[Runtime] = []

    def open_() -> Runtime:
        runtimes.append(Runtime.open(load_settings(config)))
        return runtimes[-1]

    yield open_
    for rt in runtimes:
        rt.close()


class Spy:
    """Records which teams the planner was asked to solve."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.teams: list[str] = []
        real = planner.plan_teams

        def plan_teams(
            problems: Sequence[TeamProblem], workers: int | None = None
        ) -> list[TeamPlan]:
            self.teams.extend(p.team.id for p in problems)
            return real(problems, workers=1)

        monkeypatch.setattr(planner, "plan_teams", plan_teams)


def test_book_after_plan_takes_the_stored_plans(
    opened: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = opened()
    spy = Spy(monkeypatch)
    planned, _ = plan_month(rt, MONTH, NOW)
    assert spy.teams == ["t1", "t2"] and not any(p.reused for p in planned)
    # A book a few minutes later: same inputs, same earliest start.
    summary = book_month(rt, MONTH, NOW + timedelta(minutes=7))
    assert spy.teams == ["t1", "t2"], "nothing planned again"
    assert [p.reused for p in summary.plans] == [True, True]
    assert list(summary.plans) == planned
    assert summary.created == 6
    booked = {(r.seller_id, r.start) for r in rt.store.sessions(month=MONTH)}
    assert booked == {(s.seller_id, s.start) for p in planned for s in p.proposals}


def test_a_reused_plan_is_what_the_planner_computes_now(opened: Callable[[], Runtime]) -> None:
    rt = opened()
    plan_month(rt, MONTH, NOW)
    later = NOW + timedelta(hours=3)
    reused, _ = plan_month(rt, MONTH, later)
    assert all(p.reused for p in reused)
    problems, _ = build_problems(rt, MONTH, later)
    fresh = planner.plan_teams(problems, workers=1)
    assert reused == fresh
    assert [[(s.start.isoformat(), str(s.start.tzinfo)) for s in p.proposals] for p in reused] == [
        [(s.start.isoformat(), str(s.start.tzinfo)) for s in p.proposals] for p in fresh
    ]


def _add_busy(config: Path, pid: str, start: datetime, end: datetime) -> None:
    calendar = config.parent / "calendars" / f"{pid}.ics"
    event = (
        f"BEGIN:VEVENT\r\nUID:busy-{pid}@test\r\nDTSTAMP:20310101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"
        "SUMMARY:Customer visit\r\nEND:VEVENT\r\n"
    )
    calendar.write_text(calendar.read_text().replace("END:VCALENDAR", event + "END:VCALENDAR"))


def _edit(config: Path, change: Callable[[dict[str, object]], None]) -> None:
    data = yaml.safe_load(config.read_text())
    change(data)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _session(rt: Runtime, seller: str, month: Month, state: SessionState, start: datetime) -> None:
    rt.store.add_session(
        SessionRecord(
            key=session_key("acme", "boss", seller, month, 1),
            org_id="acme",
            team_id="t1",
            manager_id="boss",
            seller_id=seller,
            month=month,
            attempt=1,
            state=state,
            start=start,
            end=start + timedelta(minutes=45),
            connector="local",
        ),
        now=NOW,
    )


def _first_slot(plans: list[TeamPlan], seller: str) -> datetime:
    return next(s.start for p in plans for s in p.proposals if s.seller_id == seller)


@pytest.mark.parametrize(
    ("change", "replanned"),
    [
        ("busy interval", {"t1"}),
        ("person", {"t1"}),
        ("policy", {"t1", "t2"}),
        ("standing session", {"t1"}),
        ("previous session", {"t1"}),
        ("sellers to book", {"t1"}),
    ],
)
def test_a_team_whose_inputs_changed_is_planned_again(
    change: str,
    replanned: set[str],
    config: Path,
    opened: Callable[[], Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = opened()
    first, _ = plan_month(rt, MONTH, NOW)
    slot = _first_slot(first, "s1")
    if change == "busy interval":  # the seller's calendar now has a meeting at the slot
        _add_busy(config, "s1", slot, slot + timedelta(hours=1))
    elif change == "person":
        _edit(config, lambda d: d["teams"][0]["sellers"][0].update(name="Sam Smith"))  # type: ignore[index]
        rt = opened()
    elif change == "policy":
        _edit(config, lambda d: d["policy"].update(buffer_minutes=15))  # type: ignore[attr-defined]
        rt = opened()
    elif change == "standing session":  # s1 booked meanwhile (another instance, say)
        _session(rt, "s1", MONTH, SessionState.BOOKED, slot + timedelta(days=1))
    elif change == "previous session":  # s2 held a session last month
        _session(rt, "s2", Month(2031, 2), SessionState.HELD, datetime(2031, 2, 4, 13, tzinfo=UTC))
    elif change == "sellers to book":  # a seller joins team t1
        (config.parent / "calendars" / "s4.ics").write_text(
            EMPTY_ICS.format(email="s4@example.com")
        )
        _edit(config, lambda d: d["teams"][0]["sellers"].append(person("s4")))  # type: ignore[index]
        rt = opened()
    spy = Spy(monkeypatch)
    again, _ = plan_month(rt, MONTH, NOW)
    assert set(spy.teams) == replanned
    assert {p.team_id for p in again if not p.reused} == replanned
    # Reused or not, each plan is the planner's answer to today's inputs.
    problems, _ = build_problems(rt, MONTH, NOW)
    assert again == [planner.plan_team(p) for p in problems]
    if change == "busy interval":
        assert _first_slot(again, "s1") != slot


def test_never_another_organisations_plan(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two organisations with the very same teams in one store: same planning keys,
    # yet each plans its own.
    rt = Runtime.open(load_settings(config))
    try:
        plan_month(rt, MONTH, NOW)
    finally:
        rt.close()
    _edit(config, lambda d: d["organisation"].update(id="other"))  # type: ignore[attr-defined]
    rt = Runtime.open(load_settings(config))
    try:
        spy = Spy(monkeypatch)
        plans, _ = plan_month(rt, MONTH, NOW)
        assert spy.teams == ["t1", "t2"] and not any(p.reused for p in plans)
        spy.teams.clear()
        plan_month(rt, MONTH.next(), NOW)  # another month: its own plans
        assert spy.teams == ["t1", "t2"]
    finally:
        rt.close()


def test_the_cli_says_how_many_plans_book_reused(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACHPASS_NOW", NOW.isoformat())
    code, out, err = run_cli(["--config", str(config), "plan", "--month", "2031-03"], capsys)
    assert code == 0, err
    assert "reused" not in out
    monkeypatch.setenv("COACHPASS_NOW", (NOW + timedelta(minutes=2)).isoformat())
    code, out, err = run_cli(["--config", str(config), "book", "--month", "2031-03"], capsys)
    assert code == 0, err
    assert "6 events created" in out and "plans of 2/2 teams reused" in out
    code, out, err = run_cli(
        ["--config", str(config), "book", "--month", "2031-03", "--json"], capsys
    )
    assert code == 0, err
    assert '"plans_reused": 0' in out  # nothing left to plan
