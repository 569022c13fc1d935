"""`coachpass init`: a first config that validates and plans at once; the plain
example config says what is missing instead of failing later."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.orgs import run_cli as run

ROOT = Path(__file__).resolve().parents[2]


def test_init_then_validate_then_plan_books_every_seller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACHPASS_NOW", "2031-02-20T08:00:00+00:00")
    folder = tmp_path / "acme"
    code, out, err = run(["init", str(folder), "--month", "2031-03"], capsys)
    assert (code, err) == (0, "")
    assert "10 example calendars" in out and "config validate --online" in out
    config = folder / "coachpass.yaml"
    code, out, _ = run(["--config", str(config), "config", "validate"], capsys)
    assert code == 0 and out == f"OK: {config}: 2 teams, 8 sellers\n"
    code, out, err = run(["--config", str(config), "plan", "--month", "2031-03"], capsys)
    assert code == 0, err
    assert out.startswith("Plan for 2031-03: 8 sessions, 0 sellers unbookable")
    # The generated calendars are real busy time, not empty files.
    assert (folder / "calendars" / "anna.ics").read_text().count("BEGIN:VEVENT") > 20


def test_init_writes_the_schema_the_configs_editor_line_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["init", str(tmp_path)], capsys)
    assert code == 0, err
    text = (tmp_path / "coachpass.yaml").read_text()
    (named,) = re.findall(r"^# yaml-language-server: \$schema=(\S+)$", text, re.M)
    schema = tmp_path / named
    assert schema.read_bytes() == (ROOT / "config" / "coachpass.schema.json").read_bytes()
    assert json.loads(schema.read_text())["title"] == "Coachpass configuration"
    assert str(schema) in out


def test_a_missing_config_suggests_coachpass_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(["--config", str(tmp_path / "coachpass.yaml"), "plan"], capsys)
    assert code == 2
    assert "no such config file (run `coachpass init`" in err
    assert "copy config/" not in err


def test_init_never_overwrites_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "coachpass.yaml"
    config.write_text("# mine\n")
    code, out, err = run(["init", str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert f"{config} exists already: nothing written" in err
    assert config.read_text() == "# mine\n"
    assert not (tmp_path / "calendars").exists()


def test_the_copied_example_says_what_is_missing_instead_of_failing_later(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "coachpass.yaml"
    shutil.copy(ROOT / "config" / "coachpass.example.yaml", config)
    code, out, err = run(["--config", str(config), "config", "validate"], capsys)
    assert code == 2 and out == ""
    assert "connectors.local.path: calendar folder" in err and "coachpass init" in err
