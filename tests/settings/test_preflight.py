"""`config validate` proves offline what would otherwise fail at run time.

Each case is a real config file on disk checked through the CLI's one error handler;
messages must name file, line and field, and never a secret's value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.cli.main import main
from tests.orgs import write_org

SECRET = "s3cr3t-value-never-shown"


def validate(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(["--config", str(config), "config", "validate"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def with_connectors(folder: Path, connectors: dict[str, Any], **extra: Any) -> Path:
    config = write_org(folder, sellers=2)
    data = yaml.safe_load(config.read_text())
    data["connectors"].update(connectors)
    data.update(extra)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def line_of(config: Path, text: str) -> int:
    return next(n for n, line in enumerate(config.read_text().splitlines(), 1) if text in line)


def test_a_complete_local_config_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(write_org(tmp_path), capsys)
    assert (code, err) == (0, "")
    assert out.startswith("OK: ")


def test_misspelt_connector_key_is_rejected_with_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPH_SECRET", SECRET)
    config = with_connectors(
        tmp_path,
        {"outlook": {"tenant_id": "t", "client_id": "c", "client_secret_enviroment": "X"}},
    )
    code, _, err = validate(config, capsys)
    line = line_of(config, "client_secret_enviroment")
    assert code == 2
    assert (
        f"{config}:{line}: connectors.outlook.client_secret_enviroment: unknown option "
        "'client_secret_enviroment'; did you mean 'client_secret_env'?"
    ) in err.splitlines()
    assert "Traceback" not in err


def test_unset_secret_variable_is_named_but_a_set_one_is_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COACHPASS_UNSET", raising=False)
    monkeypatch.setenv("CALDAV_PW", SECRET)
    config = with_connectors(
        tmp_path,
        {
            "outlook": {"tenant_id": "t", "client_id": "c", "client_secret_env": "COACHPASS_UNSET"},
            "caldav": {"url": "https://dav.example/", "username": "u", "password_env": "CALDAV_PW"},
        },
    )
    code, _, err = validate(config, capsys)
    assert code == 2
    assert err.splitlines() == [
        f"{config}:{line_of(config, 'client_secret_env')}: connectors.outlook.client_secret_env: "
        "environment variable COACHPASS_UNSET is not set: export it where Coachpass runs "
        "(e.g. the service's EnvironmentFile), or use client_secret_file"
    ]
    assert SECRET not in err


def test_service_account_missing_unparsable_or_without_delegation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = with_connectors(tmp_path, {"google": {"service_account_file": "sa.json"}})
    code, _, err = validate(config, capsys)
    assert code == 2 and f"no such file: {tmp_path / 'sa.json'}" in err
    (tmp_path / "sa.json").write_text("{not json")
    (tmp_path / "sa.json").chmod(0o600)
    code, _, err = validate(config, capsys)
    assert code == 2 and "not a service account key" in err
    key = "-----BEGIN PRIVATE KEY-----\nMIIEv" + SECRET + "\n-----END PRIVATE KEY-----\n"
    (tmp_path / "sa.json").write_text(
        json.dumps(
            {"type": "service_account", "client_email": "cp@p.iam.example", "private_key": key}
        )
    )
    code, _, err = validate(config, capsys)
    assert code == 2
    assert "connectors.google.delegation: service_account_file is set" in err
    assert "cp@p.iam.example" in err and "Admin console" in err
    assert SECRET not in err
    data = yaml.safe_load(config.read_text())
    data["connectors"]["google"]["delegation"] = True
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    assert validate(config, capsys)[0] == 0


def test_google_token_cache_may_be_missing_but_not_open_to_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Google's token_cache_file is written on first use (not by a sign-in, unlike
    Outlook's option of that name); what validate refuses is what the connector would."""
    key = {"type": "service_account", "client_email": "cp@p.iam.example", "private_key": "k"}
    (tmp_path / "sa.json").write_text(json.dumps(key))
    (tmp_path / "sa.json").chmod(0o600)
    google = {"service_account_file": "sa.json", "delegation": True}
    config = with_connectors(tmp_path, {"google": {**google, "token_cache_file": "t/g.json"}})
    assert validate(config, capsys)[:2] == (0, f"OK: {config}: 1 teams, 2 sellers\n")
    cache = tmp_path / "t" / "g.json"
    cache.parent.mkdir()
    cache.write_text(SECRET)
    cache.chmod(0o640)
    code, _, err = validate(config, capsys)
    line = line_of(config, "token_cache_file")
    assert code == 2 and f"{config}:{line}: connectors.google.token_cache_file: " in err
    assert f"{cache} is open to other users (mode 0640)" in err and f"chmod 600 {cache}" in err
    assert SECRET not in err
    cache.unlink()
    cache.parent.rmdir()
    cache.parent.write_text("")  # a file where the folder should be
    code, _, err = validate(config, capsys)
    assert code == 2 and f"{cache.parent} is not a folder this user may write in" in err
    config = with_connectors(
        tmp_path, {"google": {"oauth_token_file": "g.json", "token_cache_file": "t.json"}}
    )
    (tmp_path / "g.json").write_text("{}")
    (tmp_path / "g.json").chmod(0o600)
    code, _, err = validate(config, capsys)
    assert code == 2 and "with oauth_token_file the signed-in user's token is kept" in err


def test_missing_calendar_folder_and_files_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_org(tmp_path, sellers=2)
    (tmp_path / "calendars" / "s2.ics").unlink()
    code, _, err = validate(config, capsys)
    assert code == 2
    assert err.splitlines() == [
        f"{config}:{line_of(config, 'id: s2')}: teams[0].sellers[1]: calendar of s2 not "
        f"found: {tmp_path / 'calendars' / 's2.ics'} (export it from their calendar program, "
        "or set `calendar:` to the file's name)"
    ]
    for path in (tmp_path / "calendars").iterdir():
        path.unlink()
    (tmp_path / "calendars").rmdir()
    code, _, err = validate(config, capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "connectors.local.path: calendar folder" in err and "coachpass init" in err


def test_network_options_and_sign_in_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPH_SECRET", SECRET)
    (tmp_path / "not-a-ca.pem").write_text("hello")
    config = with_connectors(
        tmp_path,
        {
            "outlook": {
                "tenant_id": "t",
                "client_id": "c",
                "client_secret_env": "GRAPH_SECRET",
                "proxy": "proxy.example:3128",
                "ca_bundle": "not-a-ca.pem",
            },
            "google": {"oauth_token_file": "google-token.json"},
        },
    )
    code, _, err = validate(config, capsys)
    assert code == 2
    assert "connectors.outlook.proxy: not a proxy URL" in err
    assert "connectors.outlook.ca_bundle: " in err and "holds no PEM certificate" in err
    assert "google-token.json does not exist: run `coachpass auth google` to sign in" in err
    assert SECRET not in err


def test_every_option_a_connector_reads_is_a_known_option() -> None:
    """`config validate` refuses unknown option keys, so a key a connector reads but
    the list lacks is refused although documented (max_file_mb was, for a while)."""
    import re

    from connectors.ics.limits import _OPTIONS as LIMIT_OPTIONS
    from connectors.options import known_options

    root = Path(__file__).resolve().parents[2] / "connectors"
    read = re.compile(r'(?:options(?:\.get\(|\[)|_positive\(options, )"([a-z_]+)"')
    secret = re.compile(r'resolve_secret\(options, "([a-z_]+)"')
    for name, package in (
        ("local", "ics"),
        ("google", "google"),
        ("outlook", "outlook"),
        ("caldav", "caldav"),
    ):
        known = known_options(name)
        assert known is not None
        # mail.py is a mailer: its options are `mail.<backend>`'s, checked with those.
        sources = [f.read_text() for f in (root / package).glob("*.py") if f.name != "mail.py"]
        keys = {k for text in sources for k in read.findall(text)}
        # A secret is read from `<name>_env` or `<name>_file`: either will do.
        for text in sources:
            for name_ in secret.findall(text):
                assert {f"{name_}_env", f"{name_}_file"} & known, name_
        if name in ("local", "caldav"):
            keys |= set(LIMIT_OPTIONS)
        assert keys, f"no option reads found in connectors/{package}: the pattern is stale"
        assert keys <= known, f"{name} reads options it does not accept: {sorted(keys - known)}"
