"""Issue 9, findings 2, 3 and 4 through the CLI's one error handler, against the fake
Google Calendar (real google-api-python-client and google-auth on 127.0.0.1).

One team's failure never stops the others; the exit code says what happened (0 all
done, 3 partial with every failure listed on stderr); a provider that keeps failing
is a message, not a traceback; and a session whose invitation may have gone out is
listed, then adopted by the next `book`, never left `planned` in silence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.base import SESSION_TAG
from scheduler.model import Month, SessionState
from scheduler.store.store import Store
from tests.fakes.google_faults import BACKEND_503
from tests.fakes.google_harness import (  # noqa: F401 - fixtures
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.orgs import run_cli as run

MONTH = Month(2031, 3)
NOW = "2031-02-20T08:00:00+00:00"


def _person(pid: str) -> dict[str, Any]:
    return {
        "id": pid,
        "name": pid.title(),
        "email": f"{pid}@example.com",
        "timezone": "Europe/Stockholm",
        "country": "SE",
    }


def write_google_org(folder: Path, server: FakeGoogle, key_file: Path) -> Path:
    """Two teams on Google: `t1` (manager boss) and `t2` (manager ghost, who is not
    a user of the domain until a test adds them: impersonation is refused)."""
    teams = [
        {
            "id": "t1",
            "name": "Team One",
            "manager": _person("boss"),
            "sellers": [_person("s1"), _person("s2")],
        },
        {
            "id": "t2",
            "name": "Team Two",
            "manager": _person("ghost"),
            "sellers": [_person("s3"), _person("s4")],
        },
    ]
    for email in ["boss", "s1", "s2", "s3", "s4"]:
        server.add_user(f"{email}@example.com")
    config = {
        "organisation": {
            "id": "acme",
            "name": "Acme",
            "timezone": "Europe/Stockholm",
            "country": "SE",
            "language": "en",
        },
        "defaults": {"connector": "google"},
        "policy": {
            "session_minutes": 45,
            "buffer_minutes": 10,
            "lead_time_hours": 24,
            "working_hours": {"start": "09:00", "end": "17:00"},
            "online_meeting": False,
        },
        "teams": teams,
        "leadership": [{"name": "Chief", "email": "chief@example.com"}],
        "connectors": {
            "google": connector_options(server, key_file, max_attempts=2, page_size=50),
        },
        "mail": {"from": "Coachpass <coachpass@example.com>", "outbox": "outbox"},
        "store": {"url": "sqlite:///coachpass.db"},
        "schedule": {"timezone": "Europe/Stockholm"},
    }
    path = folder / "coachpass.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _tagged(server: FakeGoogle, manager: str) -> dict[str, int]:
    """Live Coachpass events per session key in `manager`'s calendar (the fake's view)."""
    counts: dict[str, int] = {}
    for event in server.store.events(f"{manager}@example.com"):
        key = event.get("extendedProperties", {}).get("private", {}).get(SESSION_TAG)
        if key and event.get("status") != "cancelled":
            counts[key] = counts.get(key, 0) + 1
    return counts


def _states(config: Path) -> dict[str, str]:
    store = Store.open(f"sqlite:///{config.parent / 'coachpass.db'}")
    try:
        return {r.seller_id: r.state.value for r in store.sessions(month=MONTH)}
    finally:
        store.close()


@pytest.fixture
def config(
    tmp_path: Path,
    fake: FakeGoogle,  # noqa: F811
    google_key_file: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("COACHPASS_NOW", NOW)
    return write_google_org(tmp_path, fake, google_key_file)


def test_manager_who_cannot_be_impersonated_stops_only_their_team(
    config: Path,
    fake: FakeGoogle,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 2: `plan` and `book` go on for team t1; t2 is listed with its manager
    and the fix; exit 3; once the account exists, the next book completes (exit 0)."""
    code, out, err = run(["--config", str(config), "plan", "--month", "2031-03"], capsys)
    assert code == 3, err
    assert "S1" in out and "S2" in out and "S3" not in out and "S4" not in out
    assert "team t2 (manager Ghost <ghost@example.com>)" in err
    assert "run book again" in err and "Traceback" not in err

    code, out, err = run(["--config", str(config), "book", "--month", "2031-03", "--json"], capsys)
    assert code == 3, err
    summary = json.loads(out)
    assert summary["created"] == 2 and summary["ok"] is False
    assert [f["team"] for f in summary["failed_teams"]] == ["t2"]
    assert summary["failed_teams"][0]["person"] == "ghost"
    assert "ghost@example.com" in err and "Traceback" not in err
    assert sorted(_tagged(fake, "boss").values()) == [1, 1]
    assert _states(config) == {"s1": "booked", "s2": "booked"}, "nothing recorded for t2"

    fake.add_user("ghost@example.com")
    code, out, err = run(["--config", str(config), "book", "--month", "2031-03"], capsys)
    assert code == 0, err
    assert "2 events created, 0 already existed" in out and "0 failed" in out
    assert sorted(_tagged(fake, "boss").values()) == [1, 1], "t1 not booked twice"
    assert sorted(_tagged(fake, "ghost").values()) == [1, 1]
    assert set(_states(config).values()) == {"booked"}


def test_sustained_server_errors_during_book_exit_3_without_traceback(
    config: Path,
    fake: FakeGoogle,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 3: Google answering 503 to every call of `book` is a listed failure
    per team (exit 3), not a TransientError traceback; nothing is recorded booked."""
    fake.add_user("ghost@example.com")
    fake.faults.rate = 1.0
    fake.faults.kinds = (BACKEND_503,)
    code, out, err = run(["--config", str(config), "book", "--month", "2031-03"], capsys)
    assert code == 3
    assert "Traceback" not in err and "TransientError" not in err
    assert "team t1 (manager Boss <boss@example.com>)" in err
    assert "team t2 (manager Ghost <ghost@example.com>)" in err
    assert "0 events created" in out
    assert _tagged(fake, "boss") == {} and _states(config) == {}

    fake.faults.rate = 0.0
    code, out, err = run(["--config", str(config), "book", "--month", "2031-03"], capsys)
    assert code == 0, err
    assert "4 events created" in out


def test_invitations_sent_but_answers_lost_are_listed_then_adopted(
    config: Path,
    fake: FakeGoogle,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 4: the batch of creates reaches Google but every answer is lost (the
    connection drops mid-batch, every retry too). The store cannot say `booked`, so
    each session is listed as 'outcome unknown' (exit 3); the next book looks the
    keys up, adopts what exists and creates the rest: one event per seller."""
    fake.add_user("ghost@example.com")
    fake.faults.reset_next_batch(match="/batch/", times=100)
    code, out, err = run(["--config", str(config), "book", "--month", "2031-03"], capsys)
    assert code == 3
    assert "Traceback" not in err
    landed = _tagged(fake, "boss") | _tagged(fake, "ghost")
    assert landed, "half of each batch ran before the drop: those invitations went out"
    assert set(landed.values()) == {1}
    states = _states(config)
    assert set(states.values()) == {SessionState.PLANNED.value}
    # Each one is listed with the people and what the next run does about it.
    for seller in ("S1", "S2", "S3", "S4"):
        assert f"seller {seller}" in err
    assert err.count("the next book") >= 4

    fake.faults = type(fake.faults)()
    code, out, err = run(["--config", str(config), "book", "--month", "2031-03", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["adopted"] == len(landed), "the invitations that went out are adopted"
    assert summary["created"] == 4 - len(landed)
    assert summary["ok"] is True and summary["failed"] == []
    assert sorted((_tagged(fake, "boss") | _tagged(fake, "ghost")).values()) == [1, 1, 1, 1]
    assert set(_states(config).values()) == {"booked"}
