"""`connectors check google` proves read and write against the fake Google, and the
`proxy` option routes every request (API and tokens) through the configured proxy."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import CalendarRef, ConnectorContext, ConnectorUserError
from connectors.checking import PROBE_TAG, Level, exit_code
from connectors.google.auth import SCOPES
from connectors.google.check import DIRECTORY_SCOPE, MEET_SCOPE, run_check
from connectors.google.connector import GoogleConnector
from tests.fakes.google_faults import Fault
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.fakes.proxy import running_proxy

NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
BOSS = CalendarRef("boss", "boss@example.com", "boss@example.com", "Europe/Stockholm")
OTHER = CalendarRef("other", "other@example.com", "other@example.com", "Europe/Stockholm")
SELLER = CalendarRef("seller", "seller@example.com", "seller@example.com", "Europe/Stockholm")


@pytest.fixture
def users(fake: FakeGoogle) -> FakeGoogle:
    for ref in (BOSS, OTHER, SELLER):
        fake.add_user(ref.email)
    yield fake
    fake.tokens.delegated_scopes = None


def check(fake: FakeGoogle, key: Path, tmp_path: Path, organizers: list[CalendarRef], **opts):  # type: ignore[no-untyped-def]
    return run_check(
        connector_options(fake, key, **opts),
        ConnectorContext(tmp_path),
        [*organizers, SELLER],
        organizers,
        now=NOW,
    )


def test_probe_event_is_private_attendee_less_far_ahead_and_deleted(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    users.tokens.delegated_scopes = frozenset({*SCOPES, MEET_SCOPE, DIRECTORY_SCOPE})
    findings = check(users, google_key_file, tmp_path, [BOSS, OTHER])
    assert [f.level for f in findings] == [Level.OK] * len(findings), findings
    assert exit_code(findings) == 0
    inserts = [c for c in users.api_calls(kind="POST /calendar/v3/calendars/")]
    assert [c.subject for c in inserts] == ["boss@example.com", "other@example.com"]
    for call in inserts:
        body = call.body
        assert call.params["sendUpdates"] == ["none"]
        assert "attendees" not in body and body["visibility"] == "private"
        assert body["transparency"] == "transparent"
        assert body["start"]["dateTime"].startswith("2033-02-")
        assert body["extendedProperties"]["private"] == {PROBE_TAG: "1"}
    deletes = [c for c in users.api_calls(kind="DELETE") if c.status == 204]
    assert len(deletes) == 2
    for ref in (BOSS, OTHER):
        assert all(e.get("status") == "cancelled" for e in users.store.events(ref.email))
    assert any("Meet attendance" in f.message and f.level is Level.OK for f in findings)


def test_a_calendar_that_refuses_writes_fails_the_check_naming_person_and_fix(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    users.faults.fail_next(
        Fault(403, "requiredAccessLevel", "You need to have writer access to this calendar."),
        match="POST /calendar/v3/calendars/other",
    )
    findings = check(users, google_key_file, tmp_path, [BOSS, OTHER])
    problems = [f for f in findings if f.level is Level.PROBLEM]
    assert len(problems) == 1 and exit_code(findings) == 3
    text = problems[0].message
    assert "other@example.com" in text and "403 requiredAccessLevel" in text
    assert "domain-wide delegation" in text and SCOPES[0] in text


def test_missing_meet_scope_is_a_warning_not_a_failure(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    users.tokens.delegated_scopes = frozenset(SCOPES)
    findings = check(users, google_key_file, tmp_path, [BOSS])
    warnings = [f.message for f in findings if f.level is Level.WARNING]
    assert len(warnings) == 2
    assert MEET_SCOPE in warnings[0] and DIRECTORY_SCOPE not in warnings[0]
    assert DIRECTORY_SCOPE in warnings[1] and MEET_SCOPE not in warnings[1]
    assert all("Admin console" in w and "Domain-wide delegation" in w for w in warnings)
    # The other checks went on: free/busy and the probe event as the organiser.
    assert any("probe event created and deleted" in f.message for f in findings)
    assert exit_code(findings) == 0


def test_only_the_missing_attendance_scope_is_named(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    users.tokens.delegated_scopes = frozenset({*SCOPES, MEET_SCOPE})
    findings = check(users, google_key_file, tmp_path, [BOSS])
    warnings = [f.message for f in findings if f.level is Level.WARNING]
    assert len(warnings) == 1 and DIRECTORY_SCOPE in warnings[0]
    assert any(MEET_SCOPE in f.message and f.level is Level.OK for f in findings)


def test_a_sign_in_without_the_attendance_scopes_is_told_to_sign_in_again(
    users: FakeGoogle, tmp_path: Path
) -> None:
    token_file = users.tokens.authorized_user_file(tmp_path, BOSS.email, frozenset(SCOPES))
    options = {
        "api_endpoint": users.api_endpoint,
        "oauth_token_file": str(token_file),
        "token_uri": users.token_uri,
        "backoff_seconds": 0.01,
    }
    findings = run_check(options, ConnectorContext(tmp_path), [BOSS], [BOSS], now=NOW)
    warnings = [f.message for f in findings if f.level is Level.WARNING]
    assert len(warnings) == 2 and all("coachpass auth google" in w for w in warnings)
    assert exit_code(findings) == 0


def test_one_signed_in_user_must_be_able_to_write_every_managers_calendar(
    users: FakeGoogle, tmp_path: Path
) -> None:
    token_file = users.tokens.authorized_user_file(tmp_path, BOSS.email, frozenset(SCOPES))
    options = {
        "api_endpoint": users.api_endpoint,
        "oauth_token_file": str(token_file),
        "token_uri": users.token_uri,
        "backoff_seconds": 0.01,
    }
    findings = run_check(options, ConnectorContext(tmp_path), [BOSS, OTHER], [BOSS, OTHER], now=NOW)
    problems = [f.message for f in findings if f.level is Level.PROBLEM]
    # Free/busy of the other manager reads fine: only the write shows what fails.
    assert len(problems) == 1
    assert "cannot create events in calendar other@example.com" in problems[0]
    assert "Make changes to events" in problems[0]
    assert exit_code(findings) == 3


def test_missing_credentials_are_a_settings_problem(tmp_path: Path) -> None:
    findings = run_check({}, ConnectorContext(tmp_path), [BOSS], [BOSS], now=NOW)
    assert len(findings) == 1 and findings[0].config and exit_code(findings) == 2


def test_proxy_option_carries_api_and_token_requests_and_env_is_ignored(
    users: FakeGoogle, google_key_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy in the environment that does not exist: using it would fail every call.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    host = users.api_endpoint.split("//")[1].rstrip("/")
    with running_proxy() as proxy:
        google = GoogleConnector(
            connector_options(users, google_key_file, proxy=proxy.url), ConnectorContext(tmp_path)
        )
        try:
            assert not google.busy([BOSS], NOW, NOW.replace(day=21)).errors
        finally:
            google.close()
        assert proxy.targets and set(proxy.targets) == {host}
    plain = GoogleConnector(connector_options(users, google_key_file), ConnectorContext(tmp_path))
    try:
        assert not plain.busy([BOSS], NOW, NOW.replace(day=21)).errors
    finally:
        plain.close()


def test_a_missing_ca_bundle_is_named(google_key_file: Path, tmp_path: Path) -> None:
    options = {"service_account_file": str(google_key_file), "delegation": True}
    with pytest.raises(ConnectorUserError, match=r"ca_bundle .*corp-ca\.pem does not exist"):
        GoogleConnector({**options, "ca_bundle": "corp-ca.pem"}, ConnectorContext(tmp_path))


def test_ca_bundle_is_what_httplib2_trusts(google_key_file: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    options = {"service_account_file": str(google_key_file), "delegation": True}
    google = GoogleConnector({**options, "ca_bundle": "corp-ca.pem"}, ConnectorContext(tmp_path))
    try:
        assert google._transport.ca_certs == str(bundle)
        assert google._transport.proxy_info is None  # no proxy unless configured
    finally:
        google.close()
