"""`coachpass report --html FILE --text FILE`: the report as it would be mailed, written
to files and sent to nobody; thresholds from the config's `report:` section."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month
from scheduler.sessions.reconcile import reconcile
from scheduler.settings.load import load_settings
from tests.orgs import run_cli as run
from tests.orgs import write_org

MONTH = Month(2031, 3)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COACHPASS_NOW", "2031-04-02T08:00:00+00:00")
    path = write_org(
        tmp_path,
        sellers=3,
        extra={"report": {"coverage_green": 95, "coverage_amber": 60, "held_rate_green": 80}},
    )
    rt = Runtime.open(load_settings(path))
    try:
        book_month(rt, MONTH, datetime(2031, 2, 20, 8, tzinfo=UTC))
        reconcile(rt, datetime(2031, 4, 1, 6, tzinfo=UTC))
    finally:
        rt.close()
    return path


def test_html_and_text_files_are_written_and_nothing_is_sent(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, text = tmp_path / "out" / "report.html", tmp_path / "report.txt"
    html.parent.mkdir()
    code, out, err = run(
        [
            "--config",
            str(config),
            "report",
            "--month",
            "2031-03",
            "--html",
            str(html),
            "--text",
            str(text),
        ],
        capsys,
    )
    assert code == 0, err
    assert f"to {html}" in out and f"to {text}" in out
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "Boss" in page and "3/3" in page  # three sellers, each presumed held
    # The legend prints the thresholds the config set.
    assert "coverage ✓ from 95%, ~ from 60%; held rate ✓ from 80%, ~ from 70%" in page
    # The text file is what `report` prints, and the preview sent nothing.
    code, preview, _ = run(["--config", str(config), "report", "--month", "2031-03"], capsys)
    assert code == 0
    assert text.read_text(encoding="utf-8").strip() == preview.strip()
    # (The outbox holds the local connector's invitations; no report among them.)
    assert not list((config.parent / "outbox").glob("*coaching-kpi-report*"))
    rt = Runtime.open(load_settings(config))
    try:
        assert rt.store.sent_reports("acme", MONTH) == []
    finally:
        rt.close()


def test_unwritable_file_and_send_together_are_user_errors(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-folder" / "r.html"
    code, _, err = run(
        ["--config", str(config), "report", "--month", "2031-03", "--html", str(missing)], capsys
    )
    assert code == 2 and str(missing) in err and "Traceback" not in err
    code, _, err = run(
        ["--config", str(config), "report", "--send", "--html", str(tmp_path / "r.html")], capsys
    )
    assert code == 2 and "without sending" in err
    assert not (tmp_path / "r.html").exists()
