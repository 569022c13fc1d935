"""Dates in the YAML: an impossible one is a located user error on every load path,
and text that only looks like a date stays text where the schema wants text."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scheduler.settings.load import load_settings
from tests.orgs import run_cli, write_org


def _with(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def _line_column(path: Path, needle: str) -> str:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return f"{number}:{line.index(needle) + 1}"
    raise AssertionError(needle)


@pytest.mark.parametrize(
    "command",
    [
        ["config", "validate"],
        ["plan", "--month", "2027-03"],
        ["people", "add", "--team", "t1", "--id", "new", "--name", "New", "--email", "n@x.se"],
    ],
    ids=["validate", "plan", "people add"],
)
@pytest.mark.parametrize(
    ("old", "new"),
    [("name: Acme", "name: 2027-02-30"), ("buffer_minutes: 10", "blackout_dates: [2027-02-30]")],
    ids=["name", "blackout"],
)
def test_an_impossible_date_is_named_where_it_is_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    old: str,
    new: str,
) -> None:
    path = _with(write_org(tmp_path, sellers=1), old, new)
    before = path.read_bytes()
    code, _out, err = run_cli(["--config", str(path), *command], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    where = _line_column(path, "2027-02-30")
    assert f"{path}:{where}: 2027-02-30 is not a real date" in err, err
    assert path.read_bytes() == before


def test_text_that_looks_like_a_date_stays_text_and_dates_are_dates(tmp_path: Path) -> None:
    path = _with(write_org(tmp_path, sellers=1), "name: Acme", "name: 2027-02-03")
    _with(path, "buffer_minutes: 10", "blackout_dates: [2027-02-04, '2027-02-05']")
    settings = load_settings(path)
    assert settings.organisation.name == "2027-02-03"
    assert settings.organisation.policy.blackout_dates == {date(2027, 2, 4), date(2027, 2, 5)}


def test_an_impossible_date_in_a_message_catalogue_is_located(tmp_path: Path) -> None:
    from scheduler.errors import UserError
    from scheduler.sessions.agenda import load_messages

    (tmp_path / "messages.yaml").write_text("en:\n  report_title: Report\n  since: 2027-02-30\n")
    with pytest.raises(UserError) as caught:
        load_messages(tmp_path, "en")
    assert str(caught.value).startswith(
        f"{tmp_path / 'messages.yaml'}:3:10: 2027-02-30 is not a real date"
    )
