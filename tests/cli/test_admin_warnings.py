"""`teams add` and `people import` warn, like `people add`, about people written whose
local calendar file is missing: the file is valid, but booking them would fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_admin import CONFIG, ok

EMPTY_CAL = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "coachpass.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "calendars").mkdir()
    for pid in ("anna", "erik", "sara", "olle"):
        (tmp_path / "calendars" / f"{pid}.ics").write_text(EMPTY_CAL)
    return path


def _warnings(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("warning:")]


def test_teams_add_warns_about_the_managers_missing_calendar(config: Path) -> None:
    manager = ["--manager-id", "per", "--manager-name", "Per Ek"]
    out = ok(
        config, "teams", "add", "dach", "--name", "DACH", *manager, "--manager-email", "p@x.se"
    )
    assert out.splitlines()[0].startswith("added team dach")
    (warning,) = _warnings(out)
    assert "calendar of per not found" in warning
    assert str(config.parent / "calendars" / "per.ics") in warning
    (config.parent / "calendars" / "ines.ics").write_text(EMPTY_CAL)
    manager = ["--manager-id", "ines", "--manager-name", "Ines Ek"]
    out = ok(config, "teams", "add", "uk", "--name", "UK", *manager, "--manager-email", "i@x.se")
    assert _warnings(out) == []


def test_people_import_warns_about_each_imported_person_only(config: Path) -> None:
    csv_path = config.parent / "people.csv"
    csv_path.write_text(
        "team,id,name,email\n"
        "nordics,nils,Nils Ek,nils@acme.example\n"
        "nordics,s1,Sven Ett,s1@acme.example\n"
        "nordics,erik,Erik Lund,erik@acme.example\n"
    )
    # s10 is already in the config without a calendar: not this import's business.
    (config.parent / "calendars" / "s1.ics").write_text(EMPTY_CAL)
    ok(config, "people", "add", "--team", "nordics", "--id", "s10", "--name", "Sten Tio",
       "--email", "s10@acme.example")  # fmt: skip
    out = ok(config, "people", "import", str(csv_path))
    assert out.splitlines()[0].startswith("2 added, 0 updated, 1 unchanged")
    (warning,) = _warnings(out)
    assert "calendar of nils not found" in warning
    assert _warnings(ok(config, "people", "import", "--dry-run", str(csv_path))) == []


def test_a_large_import_lists_ten_warnings_and_counts_the_rest(config: Path) -> None:
    csv_path = config.parent / "people.csv"
    rows = [f"nordics,p{i},Person {i},p{i}@acme.example" for i in range(13)]
    csv_path.write_text("team,id,name,email\n" + "\n".join(rows) + "\n")
    warnings = _warnings(ok(config, "people", "import", str(csv_path)))
    assert len(warnings) == 11
    assert warnings[-1] == "warning: and 3 more: `coachpass config validate` lists them all"
