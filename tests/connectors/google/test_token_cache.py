"""`token_cache_file`: Google tokens outlive the process, at most one per organiser
and hour, against the fake token endpoint (which counts every token request).

A "second process" is either a real child process or a second connector with fresh
memory: both find the token only in the file."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import CalendarRef, ConnectorContext, ConnectorUserError
from connectors.checking import Level
from connectors.google.auth import ATTENDANCE_SCOPES, SCOPES
from connectors.google.check import run_check
from connectors.google.connector import GoogleConnector
from connectors.google.token_cache import CachedToken, TokenCache
from tests.contract.suite import WINDOW_END, WINDOW_START
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle

ROOT = Path(__file__).resolve().parents[3]
BOSS = CalendarRef("boss", "boss@example.com", "boss@example.com", "Europe/Stockholm")
OTHER = CalendarRef("other", "other@example.com", "other@example.com", "Europe/Stockholm")
CACHE = "state/google-tokens.json"  # relative: resolved against the config's folder


@pytest.fixture
def users(fake: FakeGoogle) -> Any:
    fake.add_user(BOSS.email)
    fake.add_user(OTHER.email)
    yield fake
    fake.tokens.delegated_scopes = None
    fake.tokens.lifetime = 3600


def options(fake: FakeGoogle, key: Path, **extra: Any) -> dict[str, Any]:
    return connector_options(fake, key, token_cache_file=CACHE, **extra)


def connector(opts: dict[str, Any], base: Path) -> GoogleConnector:
    return GoogleConnector(opts, ConnectorContext(base_dir=base), sleep=RecordedSleep())


def read_as(google: GoogleConnector, *refs: CalendarRef) -> None:
    for ref in refs:
        google.changes(ref, None, WINDOW_START, WINDOW_END)


def cached(base: Path) -> dict[str, Any]:
    tokens: dict[str, Any] = json.loads((base / CACHE).read_text())["tokens"]
    return tokens


def test_a_second_connector_reuses_each_organisers_token(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = connector(options(users, google_key_file), tmp_path)
    read_as(first, BOSS, OTHER)
    first.close()
    assert users.stats["token"] == 2
    second = connector(options(users, google_key_file), tmp_path)  # fresh memory
    read_as(second, BOSS, OTHER, BOSS)
    assert users.stats["token"] == 2  # both tokens came from the file
    assert [c.subject for c in users.api_calls()] == [BOSS.email, OTHER.email] * 2 + [BOSS.email]

    path = tmp_path / CACHE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    scopes = " ".join(sorted([*SCOPES, *ATTENDANCE_SCOPES]))
    assert sorted(cached(tmp_path)) == [
        f"1234567890|{BOSS.email}|{scopes}",
        f"1234567890|{OTHER.email}|{scopes}",
    ]
    key_file = json.loads(google_key_file.read_text())
    text = path.read_text()
    assert key_file["private_key"] not in text and "PRIVATE KEY" not in text
    assert key_file["private_key_id"] not in text
    tokens = [e["token"] for e in cached(tmp_path).values()]
    assert not any(t in caplog.text for t in tokens)  # never in logs


def test_a_second_process_reuses_the_token(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    first = connector(options(users, google_key_file), tmp_path)
    read_as(first, BOSS)
    assert users.stats["token"] == 1
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from connectors.base import CalendarRef, ConnectorContext\n"
        "from connectors.google.connector import GoogleConnector\n"
        "from tests.contract.suite import WINDOW_END, WINDOW_START\n"
        "google = GoogleConnector(json.loads(sys.argv[1]), ConnectorContext(Path(sys.argv[2])))\n"
        "boss = CalendarRef('boss', 'boss@example.com', 'boss@example.com', 'Europe/Stockholm')\n"
        "google.changes(boss, None, WINDOW_START, WINDOW_END)\n"
        "google.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(options(users, google_key_file)), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert users.stats["token"] == 1  # the child asked the API, never the token endpoint
    assert [c.subject for c in users.api_calls()] == [BOSS.email, BOSS.email]


def test_a_token_close_to_expiry_is_fetched_again(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    users.tokens.lifetime = 240  # less than the 5 minutes a cached token must have left
    first = connector(options(users, google_key_file), tmp_path)
    read_as(first, BOSS)
    old = cached(tmp_path)
    second = connector(options(users, google_key_file), tmp_path)
    read_as(second, BOSS)
    assert users.stats["token"] == 2
    assert cached(tmp_path) != old  # the new token replaced the old one


def test_tokens_are_handed_out_with_five_minutes_left_and_expired_ones_pruned(
    tmp_path: Path,
) -> None:
    now = [datetime(2031, 2, 20, 8, 0, tzinfo=UTC)]
    cache = TokenCache(tmp_path / "tokens.json", clock=lambda: now[0])
    cache.put("a", CachedToken("token-a", now[0] + timedelta(minutes=10)))
    cache.put("b", CachedToken("token-b", now[0] + timedelta(minutes=30)))
    later = TokenCache(tmp_path / "tokens.json", clock=lambda: now[0])  # another process
    assert later.get("a") == CachedToken("token-a", now[0] + timedelta(minutes=10))
    now[0] += timedelta(minutes=4, seconds=59)
    assert later.get("a") is not None
    now[0] += timedelta(seconds=2)  # 4 min 59 s left
    assert later.get("a") is None and later.get("b") is not None
    now[0] += timedelta(minutes=6)  # "a" has expired: the next write drops it
    later.put("c", CachedToken("token-c", now[0] + timedelta(hours=1)))
    assert sorted(json.loads((tmp_path / "tokens.json").read_text())["tokens"]) == ["b", "c"]


@pytest.mark.parametrize("call", ["single request", "batch"])
def test_a_refused_token_is_dropped_and_fetched_once_again(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path, call: str
) -> None:
    first = connector(options(users, google_key_file), tmp_path)
    read_as(first, BOSS)
    refused = cached(tmp_path)
    users.tokens.invalidate_access_tokens()  # Google ended the token before its hour
    second = connector(options(users, google_key_file), tmp_path)
    if call == "batch":
        assert second.lookup(BOSS, ["a0000"]).errors == {}
    else:
        read_as(second, BOSS)
    assert users.stats["token"] == 2  # one fetch after the 401, not one per retry
    [(key, entry)] = cached(tmp_path).items()
    assert key in refused and entry["token"] != refused[key]["token"]
    third = connector(options(users, google_key_file), tmp_path)
    read_as(third, BOSS)
    assert users.stats["token"] == 2  # the new token is the one shared


def test_a_cache_other_users_may_read_is_refused_naming_the_file(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    read_as(connector(options(users, google_key_file), tmp_path), BOSS)
    path = tmp_path / CACHE
    token = next(iter(cached(tmp_path).values()))["token"]
    path.chmod(0o640)
    with pytest.raises(ConnectorUserError) as caught:
        connector(options(users, google_key_file), tmp_path)
    text = str(caught.value)
    assert str(path) in text and "0640" in text and f"chmod 600 {path}" in text
    assert token not in text
    # Widened while a process runs (after it read the file): refused at the next
    # look-up, never used.
    path.chmod(0o600)
    google = connector(options(users, google_key_file), tmp_path)
    read_as(google, BOSS)
    path.chmod(0o604)
    with pytest.raises(ConnectorUserError, match="chmod 600"):
        read_as(google, OTHER)


@pytest.mark.parametrize("text", ["{not json", "[]", '{"version": 1, "tokens": {"k": 5}}'])
def test_a_corrupt_cache_is_ignored_with_one_warning_and_rewritten(
    users: FakeGoogle,
    google_key_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    text: str,
) -> None:
    path = tmp_path / CACHE
    path.parent.mkdir()
    path.write_text(text)
    path.chmod(0o600)
    google = connector(options(users, google_key_file), tmp_path)
    read_as(google, BOSS, OTHER)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert str(path) in warnings[0].getMessage() and "rewritten" in warnings[0].getMessage()
    assert text not in warnings[0].getMessage()
    assert len(cached(tmp_path)) == 2  # valid again, with both tokens


def test_an_unwritable_cache_warns_once_and_booking_goes_on(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state").write_text("")  # a file where the folder should be
    google = connector(options(users, google_key_file), tmp_path)
    read_as(google, BOSS, OTHER, BOSS)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot write token cache" in warnings[0]
    assert users.stats["token"] == 2  # kept in memory for this run


def test_with_attendance_scopes_refused_the_narrowed_token_is_shared(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    users.tokens.delegated_scopes = frozenset(SCOPES)
    read_as(connector(options(users, google_key_file), tmp_path), BOSS)
    assert users.stats["token"] == 2  # the wide token refused, the narrow one issued
    [key] = cached(tmp_path)
    assert key.endswith("|" + " ".join(sorted(SCOPES)))  # never filed under wide scopes
    read_as(connector(options(users, google_key_file), tmp_path), BOSS)
    assert users.stats["token"] == 3  # this process's one refusal; the token from the file


def _writer(path: Path, tag: str, go: Path) -> subprocess.Popen[str]:
    script = (
        "import sys, time\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from pathlib import Path\n"
        "from connectors.google.token_cache import CachedToken, TokenCache\n"
        "cache = TokenCache(Path(sys.argv[1]))\n"
        "while not Path(sys.argv[3]).exists():\n"
        "    time.sleep(0.001)\n"
        "expiry = datetime.now(UTC) + timedelta(hours=1)\n"
        "for n in range(40):\n"
        "    cache.put(f'{sys.argv[2]}{n}', CachedToken('t', expiry))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, str(path), tag, str(go)], cwd=ROOT, text=True
    )


def test_two_processes_writing_at_once_keep_every_token(tmp_path: Path) -> None:
    path, go = tmp_path / "tokens.json", tmp_path / "go"
    writers = [_writer(path, tag, go) for tag in ("a", "b")]
    time.sleep(1.0)  # both started and waiting
    go.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    keys = set(json.loads(path.read_text())["tokens"])
    assert keys == {f"{tag}{n}" for tag in "ab" for n in range(40)}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_writer_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    cache = TokenCache(path)
    expiry = datetime.now(UTC) + timedelta(hours=1)
    fd = os.open(tmp_path / "tokens.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process in its read-merge-write
    writer = threading.Thread(target=cache.put, args=("k", CachedToken("t", expiry)))
    writer.start()
    writer.join(0.5)
    assert writer.is_alive() and not path.exists()
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    writer.join(10)
    assert set(json.loads(path.read_text())["tokens"]) == {"k"}


def test_check_says_where_tokens_are_kept(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    context = ConnectorContext(tmp_path)
    with_cache = run_check(options(users, google_key_file), context, [BOSS], [BOSS])
    line = next(str(f) for f in with_cache if "token_cache_file" in f.message)
    assert line.startswith("ok: ") and str(tmp_path / CACHE) in line and "1 live tokens" in line
    without = run_check(connector_options(users, google_key_file), context, [BOSS], [BOSS])
    line = next(str(f) for f in without if "token_cache_file" in f.message)
    assert line.startswith("ok: no token_cache_file: every command fetches one token")


def test_check_warns_when_the_cache_cannot_be_written(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "state").write_text("")  # a file where the folder should be
    findings = run_check(
        options(users, google_key_file), ConnectorContext(tmp_path), [BOSS], [BOSS]
    )
    [finding] = [f for f in findings if "token_cache_file" in f.message]
    assert finding.level is Level.WARNING and "FileExistsError" in finding.message
    assert str(tmp_path / CACHE) in finding.message


def test_with_a_signed_in_user_the_option_is_refused(users: FakeGoogle, tmp_path: Path) -> None:
    token_file = users.tokens.authorized_user_file(tmp_path, "boss@example.com", frozenset(SCOPES))
    opts = {"api_endpoint": users.api_endpoint, "oauth_token_file": str(token_file)}
    with pytest.raises(ConnectorUserError, match=r"oauth_token_file .* remove token_cache_file"):
        connector({**opts, "token_cache_file": CACHE}, tmp_path)
