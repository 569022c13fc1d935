"""`coachpass connectors check [NAME]` and `config validate --online` through the CLI's
one error handler, against the fake Google: exit 0 fine, 2 settings, 3 a problem."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fakes.google_faults import Fault
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.orgs import run_cli as run
from tests.orgs import write_org


@pytest.fixture
def config(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> Path:
    """A team on Google (fake), one local seller on the side."""
    path = write_org(tmp_path, sellers=2)
    data = yaml.safe_load(path.read_text())
    data["connectors"]["google"] = {
        "service_account_file": str(google_key_file),
        "delegation": True,
        "api_endpoint": fake.api_endpoint,
        "backoff_seconds": 0.01,
    }
    team = data["teams"][0]
    for person in (team["manager"], team["sellers"][0]):
        person["connector"] = "google"
        del person["calendar"]
        fake.add_user(person["email"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_all_connectors_checked_and_fine(
    config: Path, fake: FakeGoogle, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["--config", str(config), "connectors", "check"], capsys)
    assert code == 0, out + err
    lines = out.splitlines()
    assert "google: 2 calendars, 1 organisers" in lines
    assert any("boss@example.com" in line and "writable" in line for line in lines)
    assert any(line.startswith("local: nothing to check online") for line in lines)
    assert lines[-1] == "0 problems, 0 warnings"


def test_a_refused_write_exits_3_and_names_the_manager(
    config: Path, fake: FakeGoogle, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.faults.fail_next(
        Fault(403, "forbidden", "The caller does not have permission"),
        match="POST /calendar/v3/calendars/boss",
    )
    code, out, _ = run(["--config", str(config), "connectors", "check", "google"], capsys)
    assert code == 3, out
    assert "problem: cannot create events in calendar boss@example.com of boss" in out
    assert out.splitlines()[-1].startswith("1 problems")


def test_validate_online_runs_the_checks_after_the_offline_ones(
    config: Path, fake: FakeGoogle, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.faults.fail_next(Fault(403, "forbidden", "no"), match="POST /calendar/v3/calendars/boss")
    code, out, _ = run(["--config", str(config), "config", "validate", "--online"], capsys)
    assert code == 3
    assert out.startswith(f"OK: {config}: 1 teams, 2 sellers\n")
    code, out, _ = run(["--config", str(config), "config", "validate"], capsys)
    assert code == 0 and "google:" not in out  # offline: no request
    assert not [c for c in fake.api_calls() if c.method == "POST" and "events" in c.path][1:]


def test_unknown_name_and_broken_settings_exit_2(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--config", str(config), "connectors", "check", "outlook"], capsys)
    assert code == 2 and "no connector 'outlook'" in err and "configured: google, local" in err
    data = yaml.safe_load(config.read_text())
    data["connectors"]["google"]["service_account_file"] = str(tmp_path / "gone.json")
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, _ = run(["--config", str(config), "connectors", "check", "google"], capsys)
    assert code == 2 and "gone.json" in out


def test_text_lines_of_an_older_check_keep_their_level() -> None:
    from connectors.checking import Level
    from scheduler.cli.connectors import _from_text

    assert _from_text("ok: free/busy of a").level is Level.OK
    assert _from_text("warning: no scope").level is Level.WARNING
    assert _from_text("calendar of b not readable").level is Level.PROBLEM
