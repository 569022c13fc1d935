"""Small organisations written as real config files for integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

EMPTY_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "X-COACHPASS-OWNER:mailto:{email}\r\nEND:VCALENDAR\r\n"
)


def person(pid: str, tz: str = "Europe/Stockholm", country: str = "SE") -> dict[str, Any]:
    return {
        "id": pid,
        "name": pid.title(),
        "email": f"{pid}@example.com",
        "timezone": tz,
        "country": country,
        "calendar": f"{pid}.ics",
    }


def write_org(
    folder: Path,
    *,
    sellers: int = 3,
    policy: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    store_url: str | None = None,
) -> Path:
    """One team (manager `boss`, sellers `s1..sN`) on the local connector, empty calendars."""
    cal = folder / "calendars"
    cal.mkdir(parents=True, exist_ok=True)
    people = [person("boss")] + [person(f"s{i}") for i in range(1, sellers + 1)]
    for p in people:
        (cal / p["calendar"]).write_text(EMPTY_ICS.format(email=p["email"]))
    config: dict[str, Any] = {
        "organisation": {
            "id": "acme",
            "name": "Acme",
            "timezone": "Europe/Stockholm",
            "country": "SE",
            "language": "en",
        },
        "policy": {
            "session_minutes": 45,
            "buffer_minutes": 10,
            "lead_time_hours": 24,
            "working_hours": {"start": "09:00", "end": "17:00"},
            **(policy or {}),
        },
        "teams": [{"id": "t1", "name": "Team One", "manager": people[0], "sellers": people[1:]}],
        "leadership": [
            {"name": "Chief", "email": "chief@example.com"},
            {"name": "Head", "email": "head@example.com"},
        ],
        "connectors": {"local": {"path": "calendars", "outbox": "outbox"}},
        "mail": {"from": "Coachpass <coachpass@example.com>", "outbox": "outbox"},
        "store": {"url": store_url or "sqlite:///coachpass.db"},
        "schedule": {"timezone": "Europe/Stockholm"},
        **(extra or {}),
    }
    path = folder / "coachpass.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def count_tagged(ics_path: Path, key: str) -> int:
    """VEVENTs carrying session `key` in a calendar file, read with icalendar."""
    import icalendar

    cal = icalendar.Calendar.from_ical(ics_path.read_bytes())
    return sum(1 for ev in cal.walk("VEVENT") if str(ev.get("X-COACHPASS-SESSION", "")) == key)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`coachpass ARGS` in this process through the one error handler: (exit code,
    stdout, stderr)."""
    from scheduler.cli.main import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
