"""Without a `web:` block the managers' e-mails still go out, and neither they nor
the CLI claim links that do not exist."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from scheduler.runtime import Runtime
from scheduler.settings.load import load_settings
from tests.orgs import run_cli, write_org
from tests.web.helpers import notices, text_of


def test_booking_without_the_page_claims_no_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACHPASS_NOW", "2027-02-20T08:00:00+00:00")
    config = write_org(tmp_path, sellers=2)
    code, out, err = run_cli(["--config", str(config), "book", "--month", "2027-03"], capsys)
    assert code == 0, err
    assert "link" not in out and "2 sessions e-mailed to 1 manager" in out, out
    [notice] = notices(tmp_path / "outbox", "booked")
    text = text_of(notice)
    assert "here" not in text and "link is yours" not in text, text
    assert "/m/" not in text and "\n\n\n" not in text, text
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(items) == 2
    # The items follow one another: no empty line where a link would be.
    lines = text.splitlines()
    assert lines.index(items[1]) == lines.index(items[0]) + 1, text
    assert "sessions mark" in text, "says how the outcome gets recorded instead"

    rt = Runtime.open(load_settings(config))
    try:
        last = max(r.end for r in rt.store.sessions() if r.end is not None)
    finally:
        rt.close()
    morning = datetime.combine(last.date() + timedelta(days=1), time(7), UTC)
    while morning.weekday() >= 5:
        morning += timedelta(days=1)
    monkeypatch.setenv("COACHPASS_NOW", morning.isoformat())
    code, out, err = run_cli(["--config", str(config), "remind"], capsys)
    match = re.search(r"reminders: (\d+) (sessions?) e-mailed to 1 manager\b", out)
    assert code == 0 and match, out + err
    n = int(match.group(1))
    assert match.group(2) == ("session" if n == 1 else "sessions")
    [reminder] = notices(tmp_path / "outbox", "reminder")
    word = "session" if n == 1 else "sessions"
    assert reminder["Subject"] == f"How did it go? {n} coaching {word} to record"
    assert "through its link" not in text_of(reminder)
