"""`sessions mark` from the CLI: the page's limits, None keeps and '' clears, and
follow-ups stored so each stays one item."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.runtime import Runtime
from scheduler.sessions.agenda import _followup_lines as agenda_followups
from scheduler.sessions.followups import FOLLOWUP_MAX, NOTE_MAX
from scheduler.settings.load import load_settings
from tests.orgs import run_cli as run
from tests.orgs import write_org


@pytest.fixture
def cfg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    monkeypatch.setenv("COACHPASS_NOW", "2031-02-20T08:00:00+00:00")
    config = write_org(tmp_path, sellers=1)
    args = ["--config", str(config)]
    assert run([*args, "book", "--month", "2031-03"], capsys)[0] == 0
    monkeypatch.setenv("COACHPASS_NOW", "2031-04-02T08:00:00+00:00")  # March is over
    return args


def _recorded(cfg: list[str]) -> tuple[str, str]:
    rt = Runtime.open(load_settings(Path(cfg[1])))
    try:
        [rec] = rt.store.sessions(seller_id="s1")
        return rec.note, rec.followups
    finally:
        rt.close()


def test_mark_keeps_what_it_is_not_given_and_clears_on_empty(
    cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    mark = [*cfg, "sessions", "mark", "s1"]
    code, out, err = run(
        [*mark, "--held", "--note", "Good", "--followups", "Call A; Call B"], capsys
    )
    assert code == 0, err
    note, followups = _recorded(cfg)
    assert note == "Good" and agenda_followups(followups) == ["Call A", "Call B"]
    code, out, err = run([*mark, "--no-show"], capsys)
    assert code == 0 and "marked no-show" in out and "no_show" not in out, out
    assert _recorded(cfg) == (note, followups), "not given: kept"
    assert run([*mark, "--held", "--note", "", "--followups", ""], capsys)[0] == 0
    assert _recorded(cfg) == ("", ""), "'' clears"


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("--note", "n" * (NOTE_MAX + 1), f"keep it to {NOTE_MAX}"),
        ("--followups", "f" * (FOLLOWUP_MAX + 1), f"keep it to {FOLLOWUP_MAX}"),
        ("--followups", "a; b; c; d", "at most 3 follow-ups"),
    ],
)
def test_mark_has_the_pages_limits(
    cfg: list[str], capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    code, _, err = run([*cfg, "sessions", "mark", "s1", "--held", option, value], capsys)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert _recorded(cfg) == ("", ""), "nothing recorded"


def test_mark_says_when_the_next_session_is_booked_already(
    cfg: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = [*cfg, "sessions", "mark", "s1", "--held", "--followups", "Call A"]
    code, out, err = run(mark, capsys)
    assert code == 0 and "booked already" not in out, out + err
    assert run([*cfg, "book", "--month", "2031-04"], capsys)[0] == 0
    code, out, err = run(mark, capsys)
    assert code == 0 and "s1's next session (2031-04-" in out and "booked already" in out
