"""The CLI through its one error handler (`main`), as an admin runs it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from scheduler.cli.main import cli
from tests.orgs import run_cli as run
from tests.orgs import write_org


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COACHPASS_NOW", "2031-02-20T08:00:00+00:00")
    return write_org(tmp_path, sellers=3)


def test_missing_config_is_a_user_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(["--config", str(tmp_path / "nope.yaml"), "plan"], capsys)
    assert code == 2
    assert "nope.yaml" in err and "Traceback" not in err


def test_bad_month_names_the_value(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(["--config", str(config), "plan", "--month", "2031-13"], capsys)
    assert code == 2 and "2031-13" in err and "Traceback" not in err


@pytest.mark.parametrize("month", [" 2031-03", "2031-03 ", "2031-03\n", "\t2031-03"])
def test_a_month_with_spaces_is_refused(config: Path, capsys, month: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(["--config", str(config), "plan", "--month", month], capsys)
    assert code == 2 and "Traceback" not in err and out == ""
    assert f"{month!r} is not a month: write YYYY-MM without spaces" in err


def test_bad_clock_override_is_a_user_error(
    config: Path,
    capsys,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COACHPASS_NOW", "tomorrow")
    code, _, err = run(["--config", str(config), "plan"], capsys)
    assert code == 2 and "COACHPASS_NOW" in err


def test_plan_book_list_mark(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(["--config", str(config), "plan", "--month", "2031-03", "--json"], capsys)
    assert code == 0
    plan = json.loads(out)
    proposals = [p for t in plan["teams"] for p in t["proposals"]]
    assert sorted(p["seller"] for p in proposals) == ["s1", "s2", "s3"]
    code, out, _ = run(["--config", str(config), "sessions", "list", "--json"], capsys)
    assert json.loads(out) == [], "plan is a dry run"

    code, out, _ = run(["--config", str(config), "book", "--month", "2031-03"], capsys)
    assert code == 0 and "3 events created" in out
    code, out, _ = run(["--config", str(config), "book", "--month", "2031-03"], capsys)
    assert "0 events created" in out
    code, out, _ = run(["--config", str(config), "sessions", "list", "--json"], capsys)
    rows = json.loads(out)
    assert [r["state"] for r in rows] == ["booked"] * 3

    # Proposed slots are the ones booked: the dry run told the truth.
    def instants(items: list[dict[str, str]]) -> list[tuple[str, datetime]]:
        return sorted((i["seller"], datetime.fromisoformat(i["start"])) for i in items)

    assert instants(proposals) == instants(rows)

    # Planning the booked month again says what is there, not just "0 sessions".
    code, out, _ = run(["--config", str(config), "plan", "--month", "2031-03"], capsys)
    assert code == 0
    assert (
        out.splitlines()[0] == "Plan for 2031-03: 3 already booked, 0 to plan, 0 sellers unbookable"
    )
    code, out, _ = run(["--config", str(config), "plan", "--month", "2031-03", "--json"], capsys)
    assert json.loads(out)["already_booked"] == 3

    code, _, err = run(["--config", str(config), "sessions", "mark", "s1"], capsys)
    assert code == 2 and "--held or --no-show" in err


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["plan"],
        ["book"],
        ["reconcile"],
        ["sessions", "list"],
        ["sessions", "mark"],
        ["report"],
        ["serve"],
        ["demo"],
        ["config", "validate"],
        ["teams", "list"],
        ["people", "import"],
        ["auth", "google"],
        ["connectors", "check"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
