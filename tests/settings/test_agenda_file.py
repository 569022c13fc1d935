"""`policy.agenda_file`: on by default, off only with a guideline link, and problems
named by file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scheduler.settings.load import load_settings, validate_file
from tests.orgs import write_org

GUIDE = "https://intranet.example.com/coaching"


def _config(folder: Path, agenda_file: object, guideline_url: str | None = GUIDE) -> Path:
    org: dict[str, Any] = {
        "id": "acme",
        "name": "Acme",
        "timezone": "Europe/Stockholm",
        "country": "SE",
        "language": "en",
    }
    if guideline_url:
        org["guideline_url"] = guideline_url
    return write_org(
        folder, sellers=1, policy={"agenda_file": agenda_file}, extra={"organisation": org}
    )


def test_files_by_default_and_off_when_the_policy_says_so(tmp_path: Path) -> None:
    plain = write_org(tmp_path / "plain", sellers=1)
    assert load_settings(plain).organisation.policy.agenda_file is True
    off = _config(tmp_path / "off", False)
    assert load_settings(off).organisation.policy.agenda_file is False


@pytest.mark.parametrize(
    ("value", "guideline_url", "problem"),
    [
        (
            False,
            None,
            "policy.agenda_file: false needs organisation.guideline_url: without files the "
            "written guidelines reach the invite only as a link; set guideline_url, or "
            "agenda_file: true",
        ),
        ("sometimes", GUIDE, "policy.agenda_file: input should be a valid boolean"),
    ],
)
def test_problems_name_the_field_and_its_line(
    tmp_path: Path, value: object, guideline_url: str | None, problem: str
) -> None:
    path = _config(tmp_path, value, guideline_url)
    line = 1 + path.read_text().splitlines().index(f"  agenda_file: {value!s}".lower())
    problems = validate_file(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: {problem}"), problems
