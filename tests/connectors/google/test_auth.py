"""Google credentials: delegated service account, OAuth user token file, clear errors.

Every failure names the account and the fix, and never carries a secret.
"""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from connectors.base import (
    AuthError,
    CalendarRef,
    ConnectorContext,
    ConnectorUserError,
    SecretError,
)
from connectors.google.auth import SCOPES, authorize_installed_app, write_private
from connectors.google.check import run_check as check
from connectors.google.connector import GoogleConnector
from tests.contract.suite import WINDOW_END, WINDOW_START
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle

BOSS = CalendarRef("boss", "boss@example.com", "boss@example.com", "Europe/Stockholm")


def connector(options: dict[str, object], tmp_path: Path) -> GoogleConnector:
    return GoogleConnector(options, ConnectorContext(base_dir=tmp_path), sleep=RecordedSleep())


def secrets_of(path: Path) -> list[str]:
    info = json.loads(path.read_text())
    return [
        str(info[k])
        for k in ("private_key", "client_secret", "refresh_token", "token")
        if info.get(k)
    ]


def test_delegation_impersonates_each_organiser(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    fake.add_user("boss@example.com")
    fake.add_user("other@example.com")
    google = connector(connector_options(fake, google_key_file), tmp_path)
    other = CalendarRef("other", "other@example.com", "other@example.com")
    google.changes(BOSS, None, WINDOW_START, WINDOW_END)
    google.changes(other, None, WINDOW_START, WINDOW_END)
    assert [c.subject for c in fake.api_calls()] == ["boss@example.com", "other@example.com"]
    assert fake.stats["token"] == 2
    google.changes(BOSS, None, WINDOW_START, WINDOW_END)
    assert fake.stats["token"] == 2  # tokens are reused until they expire


def test_delegation_refused_names_user_and_admin_console(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    google = connector(connector_options(fake, google_key_file), tmp_path)
    stranger = CalendarRef("stranger", "stranger@example.com", "stranger@example.com")
    with pytest.raises(AuthError) as caught:
        google.changes(stranger, None, WINDOW_START, WINDOW_END)
    text = str(caught.value)
    assert "stranger@example.com" in text and "Admin console" in text
    assert not any(s in text for s in secrets_of(google_key_file))


@pytest.mark.parametrize("source", ["service_account_file", "service_account_env"])
def test_service_account_without_delegation_is_refused_with_the_fix(
    fake: FakeGoogle,
    google_key_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    """Acting as itself a service account may not invite anybody (Google: 403
    forbiddenForServiceAccounts): refused when the connector is built, not at booking."""
    options = connector_options(fake, google_key_file, delegation=False)
    if source == "service_account_env":
        monkeypatch.setenv("CP_GOOGLE_KEY", google_key_file.read_text())
        del options["service_account_file"]
        options["service_account_env"] = "CP_GOOGLE_KEY"
    with pytest.raises(ConnectorUserError) as caught:
        connector(options, tmp_path)
    text = str(caught.value)
    assert source in text and "delegation: true" in text and "Admin console" in text
    assert "coachpass@proj.iam.gserviceaccount.com" in text  # which account to set up
    assert not any(s in text for s in secrets_of(google_key_file))


def test_check_reports_a_service_account_without_delegation(
    fake: FakeGoogle, google_key_file: Path, tmp_path: Path
) -> None:
    fake.add_user("boss@example.com")
    options = connector_options(fake, google_key_file, delegation=False)
    lines = [str(f) for f in check(options, ConnectorContext(base_dir=tmp_path), [BOSS])]
    assert len(lines) == 1 and lines[0].startswith("problem:")
    assert "delegation: true" in lines[0] and "forbiddenForServiceAccounts" in lines[0]
    assert fake.stats["api"] == 0  # nothing sent with credentials that cannot book


def test_missing_key_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=r"nowhere\.json"):
        connector({"service_account_file": str(tmp_path / "nowhere.json")}, tmp_path)


def test_no_credentials_configured_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConnectorUserError, match=r"service_account_file.*oauth_token_file"):
        connector({}, tmp_path)


def test_user_token_is_refreshed_and_written_back_0600(fake: FakeGoogle, tmp_path: Path) -> None:
    fake.add_user("boss@example.com")
    token_file = fake.tokens.authorized_user_file(tmp_path, "boss@example.com", frozenset(SCOPES))
    token_file.chmod(0o644)
    options = {
        "api_endpoint": fake.api_endpoint,
        "token_uri": fake.token_uri,
        "oauth_token_file": token_file.name,
    }
    google = connector(options, tmp_path)  # relative to the config's folder
    google.busy([BOSS], WINDOW_START, WINDOW_END)
    saved = json.loads(token_file.read_text())
    assert saved["token"].startswith("ya29.")
    assert saved["refresh_token"]  # kept: Google omits it from refresh answers
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # A restart reuses the saved token: no second token request.
    again = connector(options, tmp_path)
    before = fake.stats["token"]
    again.busy([BOSS], WINDOW_START, WINDOW_END)
    assert fake.stats["token"] == before


def test_revoked_grant_names_account_and_command(fake: FakeGoogle, tmp_path: Path) -> None:
    fake.add_user("boss@example.com")
    token_file = fake.tokens.authorized_user_file(tmp_path, "boss@example.com", frozenset(SCOPES))
    options = {
        "api_endpoint": fake.api_endpoint,
        "token_uri": fake.token_uri,
        "oauth_token_file": str(token_file),
    }
    google = connector(options, tmp_path)
    google.busy([BOSS], WINDOW_START, WINDOW_END)
    fake.tokens.revoke_all()  # the user removed Coachpass's access in their Google account
    with pytest.raises(AuthError) as caught:
        google.changes(BOSS, None, WINDOW_START, WINDOW_END)
    text = str(caught.value)
    assert "boss@example.com" in text and "coachpass auth google" in text
    assert "expired or was revoked" in text
    assert not any(s in text for s in secrets_of(token_file))


def test_missing_token_file_says_to_sign_in(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="coachpass auth google"):
        connector({"oauth_token_file": "absent.json"}, tmp_path)


def test_write_private_narrows_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text("old")
    path.chmod(0o666)
    old_umask = os.umask(0)
    try:
        write_private(path, "new")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_scopes_are_the_two_least_privileged() -> None:
    assert set(SCOPES) == {
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.freebusy",
    }


def test_sign_in_without_oauthlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes the import fail, as if the package were not installed.
    monkeypatch.setitem(sys.modules, "google_auth_oauthlib", None)
    monkeypatch.setitem(sys.modules, "google_auth_oauthlib.flow", None)
    options = {"client_secrets_file": "c.json", "oauth_token_file": "t.json"}
    with pytest.raises(ConnectorUserError, match="pip install google-auth-oauthlib"):
        authorize_installed_app(options, ConnectorContext(base_dir=tmp_path))


def test_sign_in_needs_both_files_configured(tmp_path: Path) -> None:
    with pytest.raises(ConnectorUserError, match="client_secrets_file"):
        authorize_installed_app({"oauth_token_file": "t.json"}, ConnectorContext(base_dir=tmp_path))
