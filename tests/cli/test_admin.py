"""`config`, `teams` and `people` commands, run with click's CliRunner on real files.

The commands are mounted on a tiny root group here so these tests do not depend on
the rest of the CLI; one test goes through `scheduler.cli.main.main` for the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from scheduler.cli.admin import config_group, people_group, teams_group
from scheduler.cli.common import CliState
from scheduler.errors import ConfigError, UserError
from scheduler.settings.load import json_schema, load_settings

CONFIG = """\
# Acme's coaching setup: kept across edits.

organisation: {id: acme, name: Acme, timezone: Europe/Stockholm, country: SE, language: en}
policy:
  session_minutes: 45
  working_hours: {start: "08:00", end: "17:00"}
teams:
  - id: nordics
    name: Nordics
    manager: {id: anna, name: Anna Berg, email: anna@acme.example}
    sellers:
      - {id: erik, name: Erik Lund, email: erik@acme.example}  # a comment further down
      - {id: sara, name: Sara Ek, email: sara@acme.example}
  - id: empty
    name: Empty team
    manager: {id: olle, name: Olle Ny, email: olle@acme.example}
connectors:
  local: {path: calendars}
"""


@click.group()
@click.option("--config", "config_path", type=click.Path(path_type=Path))
@click.pass_context
def root(ctx: click.Context, config_path: Path) -> None:
    ctx.obj = CliState(config_path=config_path)


root.add_command(config_group)
root.add_command(teams_group)
root.add_command(people_group)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "coachpass.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--config", str(config), *args])


def ok(config: Path, *args: str) -> str:
    result = run(config, *args)
    assert result.exception is None, result.output
    assert result.exit_code == 0
    return result.output


def fails(config: Path, *args: str) -> BaseException:
    result = run(config, *args)
    assert result.exception is not None, result.output
    assert isinstance(result.exception, UserError), result.exception
    return result.exception


def team_ids(config: Path) -> list[str]:
    return [t.id for t in load_settings(config).organisation.teams]


def seller_ids(config: Path, team: str) -> list[str]:
    return [s.id for s in load_settings(config).organisation.team(team).sellers]


# -- config -----------------------------------------------------------------------


def test_validate_ok(config: Path) -> None:
    calendars = config.parent / "calendars"
    calendars.mkdir()
    for person in ("anna", "erik", "sara", "olle"):
        (calendars / f"{person}.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    assert ok(config, "config", "validate") == f"OK: {config}: 2 teams, 2 sellers\n"


def test_validate_raises_config_error_with_every_problem(config: Path) -> None:
    config.write_text(
        CONFIG.replace("Europe/Stockholm", "Europe/Stokholm").replace("sara@", "erik@")
    )
    error = fails(config, "config", "validate")
    assert isinstance(error, ConfigError)
    assert error.problems == [
        f"{config}:3: organisation.timezone: unknown time zone 'Europe/Stokholm'; "
        "did you mean 'Europe/Stockholm'?",
        f"{config}:13: teams[0].sellers[1].email: duplicate email 'erik@acme.example' "
        "(also 'erik', teams[0].sellers[0])",
    ]


def test_main_prints_problems_and_exits_2_without_traceback(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scheduler.cli.main import main

    config.write_text(CONFIG.replace('end: "17:00"', 'end: "08:15"'))
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(config), "config", "validate"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"{config}:5: policy.session_minutes: a session of 45 minutes is longer than the "
        "working day 08:00-08:15 (15 minutes)"
    ]
    assert "Traceback" not in err


def test_schema_to_stdout_and_file(config: Path, tmp_path: Path) -> None:
    assert json.loads(ok(config, "config", "schema")) == json_schema()
    out = tmp_path / "schema.json"
    ok(config, "config", "schema", "--output", str(out))
    assert json.loads(out.read_text()) == json_schema()


def test_schema_needs_no_config_file(tmp_path: Path) -> None:
    assert json.loads(ok(tmp_path / "absent.yaml", "config", "schema"))["type"] == "object"


# -- teams ------------------------------------------------------------------------


def test_teams_list_table_and_json(config: Path) -> None:
    lines = ok(config, "teams", "list").splitlines()
    assert lines[0].split() == ["team", "name", "manager", "sellers", "connectors"]
    assert lines[2].split() == ["nordics", "Nordics", "anna", "2", "local"]
    rows = json.loads(ok(config, "teams", "list", "--json"))
    assert [(r["id"], r["sellers"]) for r in rows] == [("nordics", 2), ("empty", 0)]


def test_teams_add_keeps_header_comment_and_a_backup(config: Path) -> None:
    before = config.read_text()
    ok(
        config,
        "teams",
        "add",
        "dach",
        "--name",
        "DACH",
        "--manager-id",
        "jonas",
        "--manager-name",
        "Jonas Weber",
        "--manager-email",
        "jonas@acme.example",
        "--timezone",
        "Europe/Berlin",
        "--country",
        "DE",
    )
    assert team_ids(config) == ["nordics", "empty", "dach"]
    manager = load_settings(config).organisation.team("dach").manager
    assert (manager.timezone, manager.country) == ("Europe/Berlin", "DE")
    assert config.read_text().startswith("# Acme's coaching setup: kept across edits.\n")
    assert (config.parent / "coachpass.yaml.bak").read_text() == before
    assert not list(config.parent.glob(".*.tmp"))


def test_teams_add_existing_is_refused_and_file_untouched(config: Path) -> None:
    error = fails(
        config,
        "teams",
        "add",
        "nordics",
        "--name",
        "N",
        "--manager-id",
        "x",
        "--manager-name",
        "X",
        "--manager-email",
        "x@acme.example",
    )
    assert str(error) == f"{config}: team 'nordics' exists already"
    assert config.read_text() == CONFIG
    assert not (config.parent / "coachpass.yaml.bak").exists()


def test_teams_add_that_would_be_invalid_writes_nothing(config: Path) -> None:
    error = fails(
        config,
        "teams",
        "add",
        "dach",
        "--name",
        "DACH",
        "--manager-id",
        "jonas",
        "--manager-name",
        "Jonas",
        "--manager-email",
        "erik@acme.example",
        "--timezone",
        "Europe/Berlim",
    )
    assert isinstance(error, ConfigError)
    assert error.problems[0] == (f"{config}: not changed: the edit would make the config invalid:")
    assert any("unknown time zone 'Europe/Berlim'" in p for p in error.problems)
    assert any("duplicate email 'erik@acme.example'" in p for p in error.problems)
    assert config.read_text() == CONFIG
    assert not (config.parent / "coachpass.yaml.bak").exists()


def test_teams_remove_refuses_a_team_with_sellers(config: Path) -> None:
    error = fails(config, "teams", "remove", "nordics")
    assert str(error) == (
        "team 'nordics' has 2 seller(s): move or remove them first, or use --force to "
        "remove them with the team"
    )
    assert config.read_text() == CONFIG
    assert ok(config, "teams", "remove", "nordics", "--force") == (
        f"removed team nordics and its 2 seller(s) from {config}\n"
    )
    assert team_ids(config) == ["empty"]


def test_teams_remove_empty_and_unknown(config: Path) -> None:
    ok(config, "teams", "remove", "empty")
    assert team_ids(config) == ["nordics"]
    assert str(fails(config, "teams", "remove", "ghost")) == (
        f"{config}: no team 'ghost'; teams: nordics"
    )


# -- people -----------------------------------------------------------------------


def test_people_list_and_filter(config: Path) -> None:
    rows = json.loads(ok(config, "people", "list", "--json"))
    assert [(r["team"], r["role"], r["id"]) for r in rows] == [
        ("nordics", "manager", "anna"),
        ("nordics", "seller", "erik"),
        ("nordics", "seller", "sara"),
        ("empty", "manager", "olle"),
    ]
    assert rows[1]["calendar"] == "erik.ics"
    table = ok(config, "people", "list", "--team", "empty").splitlines()
    assert len(table) == 3 and table[2].split()[:3] == ["empty", "manager", "olle"]
    # The help promises the calendar in use: the table shows it, as --json does.
    assert table[0].split()[-1] == "calendar" and table[2].split()[-1] == "olle.ics"
    assert "calendar" in run(config, "people", "list", "--help").output
    assert "no team 'ghost'" in str(fails(config, "people", "list", "--team", "ghost"))


def test_people_add_and_remove(config: Path) -> None:
    ok(
        config,
        "people",
        "add",
        "--team",
        "empty",
        "--id",
        "nils",
        "--name",
        "Nils Ek",
        "--email",
        "nils@acme.example",
        "--timezone",
        "Europe/Helsinki",
        "--country",
        "FI",
    )
    nils = load_settings(config).organisation.team("empty").sellers[0]
    assert (nils.id, nils.timezone, nils.country) == ("nils", "Europe/Helsinki", "FI")
    assert ok(config, "people", "remove", "erik") == f"removed erik from team nordics in {config}\n"
    assert seller_ids(config, "nordics") == ["sara"]


def test_people_add_refusals(config: Path) -> None:
    assert "exists already (seller in team 'nordics')" in str(
        fails(
            config,
            "people",
            "add",
            "--team",
            "empty",
            "--id",
            "erik",
            "--name",
            "E",
            "--email",
            "e2@acme.example",
        )
    )
    assert "no team 'ghost'" in str(
        fails(
            config,
            "people",
            "add",
            "--team",
            "ghost",
            "--id",
            "x",
            "--name",
            "X",
            "--email",
            "x@acme.example",
        )
    )
    error = fails(
        config,
        "people",
        "add",
        "--team",
        "empty",
        "--id",
        "x",
        "--name",
        "X",
        "--email",
        "x@acme.example",
        "--connector",
        "google",
    )
    assert isinstance(error, ConfigError)
    assert error.problems[1].endswith(
        "teams[1].sellers[0].connector: connector 'google' is not configured under connectors:"
    )
    assert config.read_text() == CONFIG


def test_people_remove_refuses_a_manager_and_unknown_ids(config: Path) -> None:
    assert str(fails(config, "people", "remove", "anna")) == (
        "'anna' manages team 'nordics': remove the team or give it another manager first"
    )
    assert (
        str(fails(config, "people", "remove", "ghost"))
        == f"{config}: no person 'ghost' in the file"
    )
    assert config.read_text() == CONFIG


# -- import / export -------------------------------------------------------------

PEOPLE = """\
team,id,name,email,timezone,country,role
nordics,nils,Nils Ek,nils@acme.example,,,
nordics,erik,Erik Lund,erik@acme.example,,,
benelux,daan,Daan de Vries,daan@acme.example,Europe/Amsterdam,NL,seller
benelux,sofie,Sofie Janssens,sofie@acme.example,Europe/Brussels,BE,manager
"""


def test_import_adds_then_changes_nothing(config: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(PEOPLE)
    assert ok(config, "people", "import", str(csv_path)) == (
        f"3 added, 0 updated, 1 unchanged, new teams: benelux (changed {config})\n"
    )
    assert seller_ids(config, "nordics") == ["erik", "sara", "nils"]
    org = load_settings(config).organisation
    assert org.team("benelux").manager.id == "sofie"
    assert [s.id for s in org.team("benelux").sellers] == ["daan"]

    written = config.read_bytes()
    mtime = config.stat().st_mtime_ns
    assert ok(config, "people", "import", str(csv_path)) == (
        f"0 added, 0 updated, 4 unchanged (no change to {config})\n"
    )
    assert config.read_bytes() == written
    assert config.stat().st_mtime_ns == mtime


def test_import_updates_and_moves(config: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(
        "team,id,name,email,timezone\n"
        "nordics,erik,Erik Lund,erik@acme.example,Europe/Oslo\n"
        "empty,sara,Sara Ek,sara@acme.example,\n"
    )
    assert ok(config, "people", "import", str(csv_path)).startswith(
        "0 added, 2 updated, 0 unchanged"
    )
    org = load_settings(config).organisation
    assert [(s.id, s.timezone) for s in org.team("nordics").sellers] == [("erik", "Europe/Oslo")]
    assert [s.id for s in org.team("empty").sellers] == ["sara"]


def test_import_with_a_bad_row_writes_nothing(config: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(
        "team,id,name,email,country\n"
        "nordics,nils,Nils,nils@acme.example,\n"
        "nordics,per,Per,per@acme.example,Sverige\n"
    )
    error = fails(config, "people", "import", str(csv_path))
    assert isinstance(error, ConfigError)
    assert error.problems == [
        f"{csv_path}:3: country: unknown country 'Sverige': use an ISO 3166 alpha-2 code "
        "with public holidays in the holidays package (e.g. SE, NO, DE, US)"
    ]
    assert config.read_text() == CONFIG


def test_import_into_an_unknown_team_names_the_row(config: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("id,name,email\nnils,Nils,nils@acme.example\n")
    error = fails(config, "people", "import", str(csv_path), "--team", "dach")
    assert isinstance(error, ConfigError)
    assert error.problems == [
        f"{csv_path}:2: team: no team 'dach': add it with `coachpass teams add`, or add a row "
        "with role manager for it"
    ]
    ok(config, "people", "import", str(csv_path), "--team", "empty")
    assert seller_ids(config, "empty") == ["nils"]


def test_import_dry_run_writes_nothing(config: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(PEOPLE)
    out = ok(config, "people", "import", str(csv_path), "--dry-run")
    assert out == f"3 added, 0 updated, 1 unchanged, new teams: benelux (would change {config})\n"
    assert config.read_text() == CONFIG


def test_export_then_import_changes_nothing(config: Path, tmp_path: Path) -> None:
    exported = tmp_path / "all.csv"
    ok(config, "people", "export", "--output", str(exported))
    assert len(exported.read_text().splitlines()) == 5
    assert ok(config, "people", "import", str(exported)).startswith(
        "0 added, 0 updated, 4 unchanged"
    )
    assert config.read_text() == CONFIG
    stdout_csv = ok(config, "people", "export", "--team", "empty")
    assert stdout_csv.splitlines()[1].startswith("empty,olle,Olle Ny,olle@acme.example,")


def test_a_symlinked_config_stays_a_symlink(config: Path, tmp_path: Path) -> None:
    link = tmp_path / "etc" / "coachpass.yaml"
    link.parent.mkdir()
    link.symlink_to(config)
    ok(link, "teams", "remove", "empty")
    assert link.is_symlink()
    assert team_ids(config) == ["nordics"]
    assert (config.parent / "coachpass.yaml.bak").read_text() == CONFIG


def test_people_add_warns_when_their_local_calendar_is_missing(config: Path) -> None:
    # The folder exists with the others' calendars; the new seller's file does not.
    folder = config.parent / "calendars"
    folder.mkdir()
    for pid in ("anna", "erik", "sara", "olle"):
        (folder / f"{pid}.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    args = ["--team", "nordics", "--id", "nils", "--name", "Nils Ek"]
    out = ok(config, "people", "add", *args, "--email", "nils@acme.example")
    assert out.splitlines()[0] == f"added nils to team nordics in {config}"
    assert "warning:" in out and "calendar of nils not found" in out
    assert str(folder / "nils.ics") in out
    # Someone whose file is there gets no warning.
    (folder / "ines.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    args = ["--team", "nordics", "--id", "ines", "--name", "Ines Ek"]
    out = ok(config, "people", "add", *args, "--email", "ines@acme.example")
    assert "warning" not in out


def test_people_remove_names_their_upcoming_booked_session(config: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from scheduler.model import Month, SessionRecord, SessionState, session_key
    from scheduler.store.store import Store

    settings = load_settings(config)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    month = Month.of(start)
    store = Store.open(settings.store_url)
    booked = SessionRecord(
        key=session_key("acme", "anna", "erik", month, 1),
        org_id="acme",
        team_id="nordics",
        manager_id="anna",
        seller_id="erik",
        month=month,
        attempt=1,
        state=SessionState.BOOKED,
        start=start,
        end=start + timedelta(minutes=45),
        event_id="ev1",
        connector="local",
    )
    store.add_session(booked, now=start - timedelta(days=5))
    store.close()
    out = ok(config, "people", "remove", "erik")
    assert out.splitlines()[0] == f"removed erik from team nordics in {config}"
    assert f"session {booked.key}" in out and "still booked" in out
    assert f"coachpass sessions cancel {booked.key}" in out
    # Nothing booked for her: nothing said beyond the removal.
    out = ok(config, "people", "remove", "sara")
    assert out == f"removed sara from team nordics in {config}\n"
