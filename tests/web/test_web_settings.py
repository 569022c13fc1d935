"""The `web:` block: checked where it is written, and its key read as every secret is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.errors import ConfigError, UserError
from scheduler.settings.load import load_settings
from scheduler.web.keys import signer
from scheduler.web.tokens import key_id
from tests.orgs import run_cli
from tests.web.helpers import KEY, web_org


def _with_web(tmp_path: Path, web: dict[str, Any]) -> Path:
    path = web_org(tmp_path, "https://coachpass.acme.example")
    config = yaml.safe_load(path.read_text())
    config["web"] = web
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "web,message",
    [
        ({"public_base_url": "http://coachpass.acme.example", "signing_key_env": "K"}, "https"),
        ({"public_base_url": "https://x.example/?a=1", "signing_key_env": "K"}, "nothing else"),
        ({"public_base_url": "https://x.example"}, "signing_key_env or signing_key_file"),
        (
            {
                "public_base_url": "https://x.example",
                "signing_key_env": "K",
                "signing_key_file": "f",
            },
            "signing_key_env or signing_key_file",
        ),
        (
            {"public_base_url": "https://x.example", "signing_key_env": "K", "signing_key": "s"},
            "signing_key",
        ),
        (
            {"public_base_url": "https://x.example", "signing_key_env": "K", "link_valid_days": 0},
            "link_valid_days",
        ),
        (
            {
                "public_base_url": "https://x.example",
                "signing_key_env": "K",
                "listen": "127.0.0.1:99999",
            },
            "web.listen: '127.0.0.1:99999': the port must be 1-65535",
        ),
        (
            {"public_base_url": "https://x.example", "signing_key_env": "K", "listen": "localhost"},
            "web.listen: 'localhost' is not host:port",
        ),
    ],
)
def test_a_bad_web_block_names_the_field(tmp_path: Path, web: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_with_web(tmp_path, web))
    text = "\n".join(caught.value.problems)
    assert "web" in text and message in text


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = web_org(tmp_path, "https://coachpass.acme.example")
    (tmp_path / "signing.key").chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert any("chmod 600" in p and "signing.key" in p for p in caught.value.problems)


def test_keys_from_env_and_file_with_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINK_KEY", "n" * 48)
    path = _with_web(
        tmp_path,
        {
            "public_base_url": "https://coachpass.acme.example/cp/",
            "signing_key_env": "LINK_KEY",
            "previous_signing_keys": [{"file": "signing.key"}],
        },
    )
    settings = load_settings(path)
    assert settings.web is not None
    assert settings.web.public_base_url == "https://coachpass.acme.example/cp"
    made = signer(settings.web)
    assert made.current == key_id(b"n" * 48)
    assert set(made.keys) == {key_id(b"n" * 48), key_id(KEY.encode())}


def test_a_missing_or_short_key_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _with_web(
        tmp_path, {"public_base_url": "https://coachpass.acme.example", "signing_key_env": "LK"}
    )
    settings = load_settings(path)
    assert settings.web is not None
    monkeypatch.delenv("LK", raising=False)
    with pytest.raises(UserError, match="environment variable LK"):
        signer(settings.web)
    monkeypatch.setenv("LK", "short-secret")
    with pytest.raises(UserError, match="shorter than 32") as caught:
        signer(settings.web)
    assert "short-secret" not in str(caught.value), "never the secret itself"


def test_sessions_link_and_remind_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = web_org(tmp_path, "https://coachpass.acme.example")
    monkeypatch.setenv("COACHPASS_NOW", "2027-02-20T08:00:00+00:00")
    code, out, err = run_cli(["--config", str(path), "book", "--month", "2027-03"], capsys)
    assert code == 0 and "3 links to 1 manager" in out, out + err
    code, out, err = run_cli(["--config", str(path), "sessions", "link", "s1"], capsys)
    assert code == 0 and out.startswith("https://coachpass.acme.example/m/"), err
    monkeypatch.setenv("COACHPASS_NOW", "2027-03-02T07:00:00+00:00")  # a Tuesday morning
    code, out, err = run_cli(["--config", str(path), "remind", "--json"], capsys)
    assert code == 0, err
    report = yaml.safe_load(out)
    assert report["sent"] == [{"manager": "boss", "sessions": 1}] and report["ok"]
    monkeypatch.setenv("COACHPASS_NOW", "2027-03-06T07:00:00+00:00")  # a Saturday
    code, out, err = run_cli(["--config", str(path), "remind"], capsys)
    assert code == 0 and "not a working day" in out


def test_sessions_link_without_a_web_block_says_how_to_enable_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.orgs import write_org

    path = write_org(tmp_path)
    code, _, err = run_cli(["--config", str(path), "sessions", "link", "s1"], capsys)
    assert code == 2 and "web.public_base_url" in err and "Traceback" not in err


def test_config_validate_names_an_unset_key_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _with_web(
        tmp_path, {"public_base_url": "https://coachpass.acme.example", "signing_key_env": "LKX"}
    )
    monkeypatch.delenv("LKX", raising=False)
    code, out, err = run_cli(["--config", str(path), "config", "validate"], capsys)
    assert code == 2 and "web.signing_key_env" in out + err and "LKX is not set" in out + err


SHORT = "short-secret-value"


def _validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], web: dict[str, Any]
) -> tuple[int, str]:
    path = _with_web(tmp_path, {"public_base_url": "https://coachpass.acme.example", **web})
    code, out, err = run_cli(["--config", str(path), "config", "validate"], capsys)
    return code, out + err


@pytest.mark.parametrize(
    "setup,web,field,message",
    [
        ("short", {"signing_key_file": "k.key"}, "web.signing_key_file", "shorter than 32"),
        ("empty", {"signing_key_file": "k.key"}, "web.signing_key_file", "is empty"),
        ("dir", {"signing_key_file": "k.key"}, "web.signing_key_file", "no such file"),
        ("group", {"signing_key_file": "k.key"}, "web.signing_key_file", "chmod 600"),
        ("env-short", {"signing_key_env": "CP_LK"}, "web.signing_key_env", "shorter than 32"),
        ("env-empty", {"signing_key_env": "CP_LK"}, "web.signing_key_env", "CP_LK is empty"),
        (
            "good",
            {"signing_key_file": "signing.key", "previous_signing_keys": [{"env": "CP_OLD"}]},
            "web.previous_signing_keys[0].env",
            "CP_OLD is not set",
        ),
        (
            "good",
            {"signing_key_file": "signing.key", "previous_signing_keys": [{"file": "k.key"}]},
            "web.previous_signing_keys[0].file",
            "no such file",
        ),
    ],
)
def test_config_validate_checks_every_signing_key_offline(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    web: dict[str, Any],
    field: str,
    message: str,
) -> None:
    monkeypatch.delenv("CP_OLD", raising=False)
    key = tmp_path / "k.key"
    if setup == "short":
        key.write_text(SHORT)
    elif setup == "empty":
        key.write_text("\n")
    elif setup == "dir":
        key.mkdir()
    elif setup == "group":
        key.write_text("g" * 48)
    monkeypatch.setenv("CP_LK", SHORT if setup == "env-short" else "")
    if key.is_file():
        key.chmod(0o640 if setup == "group" else 0o600)
    code, text = _validate(tmp_path, capsys, web)
    assert code == 2, text
    assert field in text and message in text, text
    assert "is not set" not in text or setup == "good", "set but empty is not 'not set'"
    assert SHORT not in text and "g" * 48 not in text, "never the key itself"
    assert "Traceback" not in text


def test_a_group_readable_key_file_is_refused_at_run_time_too(tmp_path: Path) -> None:
    path = web_org(tmp_path, "https://coachpass.acme.example")
    (tmp_path / "signing.key").chmod(0o640)
    settings = load_settings(path)
    assert settings.web is not None
    with pytest.raises(UserError, match="chmod 600"):
        signer(settings.web)


def test_a_bad_listen_at_run_time_names_where_it_came_from(tmp_path: Path) -> None:
    from scheduler.runtime import Runtime
    from scheduler.web.server import PageServer

    rt = Runtime.open(load_settings(web_org(tmp_path, "https://coachpass.acme.example")))
    try:
        with pytest.raises(UserError, match="serve --web-listen: 'localhost' is not host:port"):
            PageServer(rt, "localhost")
    finally:
        rt.close()
