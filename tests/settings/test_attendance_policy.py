"""`policy.attendance`: defaults, and problems named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.model import AttendancePolicy
from scheduler.settings.load import load_settings, validate_file
from tests.orgs import run_cli, write_org


def _config(tmp_path: Path, attendance: object) -> Path:
    return write_org(tmp_path, sellers=1, policy={"attendance": attendance})


def test_defaults_and_values_reach_the_policy(tmp_path: Path) -> None:
    plain = load_settings(write_org(tmp_path / "a", sellers=1)).organisation.policy
    assert plain.attendance == AttendancePolicy(15, 60, 7)
    set_ = _config(
        tmp_path / "b",
        {"min_minutes_together": 20, "provider_delay_minutes": 30, "keep_asking_days": 25},
    )
    assert load_settings(set_).organisation.policy.attendance == AttendancePolicy(20, 30, 25)


@pytest.mark.parametrize(
    ("attendance", "problem"),
    [
        (
            {"keep_asking_days": 30},
            "policy.attendance.keep_asking_days: 30 days is too long: Google Meet deletes "
            "attendance records 30 days after the meeting; use at most 25",
        ),
        (
            {"provider_delay_minutes": 2880, "keep_asking_days": 2},
            "policy.attendance: provider_delay_minutes 2880 is not shorter than "
            "keep_asking_days 2: nothing would ever be asked",
        ),
        ({"min_minutes_together": 0}, "policy.attendance.min_minutes_together: "),
        ({"minutes": 15}, "policy.attendance.minutes: "),
    ],
)
def test_problems_name_the_field(tmp_path: Path, attendance: object, problem: str) -> None:
    path = _config(tmp_path, attendance)
    problems = validate_file(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:") and problem in problems[0], problems


def test_validate_names_a_missing_attendance_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_org(
        tmp_path,
        sellers=1,
        extra={"connectors": {"local": {"path": "calendars", "attendance_dir": "meetings"}}},
    )
    code, _out, err = run_cli(["--config", str(path), "config", "validate"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert (
        err.startswith(f"{path}:")
        and (
            f"connectors.local.attendance_dir: attendance folder {tmp_path / 'meetings'} does "
            "not exist: create it"
        )
        in err
    )
    (tmp_path / "meetings").mkdir()
    assert run_cli(["--config", str(path), "config", "validate"], capsys)[0] == 0


def test_a_minimum_longer_than_a_session_is_refused_naming_both_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_org(tmp_path, sellers=1, policy={"attendance": {"min_minutes_together": 60}})
    code, _out, err = run_cli(["--config", str(path), "config", "validate"], capsys)
    assert code == 2, err
    assert f"{path}:" in err
    assert (
        "policy: attendance.min_minutes_together 60 is longer than session_minutes 45: "
        "no session could ever be verified as held; use at most 45"
    ) in err
    equal = write_org(
        tmp_path / "equal", sellers=1, policy={"attendance": {"min_minutes_together": 45}}
    )
    assert validate_file(equal) == []
