"""What `coachpass config validate` can prove without the network.

The schema checks say the file is well formed; these say it can run here: every
secret it names is resolvable (environment variable set, file present), every file
and folder it names exists, a Google service account can be parsed and acts with
domain-wide delegation, each local calendar exists, and each connector option key is
one the connector knows (a misspelt key is otherwise ignored and fails at run time).

Messages are `file:line: field: what to fix`, like every config error; a secret's
value is never read into a message (only whether it is there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.options import SIGN_IN_ONLY, WRITTEN_BY_SIGN_IN, WRITTEN_ON_USE, known_options
from scheduler.settings import checks, cross, signing_keys
from scheduler.settings.build import Settings
from scheduler.settings.checks import Problem
from scheduler.settings.yaml_lines import LoadedYaml

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def check_connector_keys(data: Mapping[str, Any], rep: cross.Reporter) -> None:
    """Unknown option keys under `connectors:` (run with the schema checks)."""
    configured = data.get("connectors")
    if not isinstance(configured, Mapping):
        return
    for name, options in configured.items():
        known = known_options(str(name))
        if known is None or not isinstance(options, Mapping):
            continue  # an unknown connector is reported by the connector check
        for key in options:
            if str(key) in known or checks.SECRET_KEY.search(str(key)):
                continue  # inline secrets have their own message
            hint = checks.suggest(str(key), sorted(known)) or (
                f"; {name} knows: {', '.join(sorted(known))}"
            )
            rep.at(("connectors", str(name), str(key)), f"unknown option {key!r}{hint}")


def run(loaded: LoadedYaml, settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """Every offline problem of a config that passed the schema checks, one line each."""
    environ = os.environ if env is None else env
    rep = cross.Reporter(loaded, str(settings.source))
    for name, options in settings.connectors.items():
        where = ("connectors", name)
        made_on_use = WRITTEN_ON_USE.get(name, frozenset())
        _secrets(options, where, settings.base_dir, environ, rep, made_on_use)
        _network(options, where, settings.base_dir, rep)
        if name == "google":
            _google(options, where, settings.base_dir, environ, rep)
        elif name == "outlook":
            _outlook(options, where, rep)
        elif name == "local":
            _local(options, where, loaded, settings, rep)
    smtp = loaded.data.get("mail", {}).get("smtp") if isinstance(loaded.data, Mapping) else None
    if isinstance(smtp, Mapping):
        _secrets(smtp, ("mail", "smtp"), settings.base_dir, environ, rep)
    web = loaded.data.get("web") if isinstance(loaded.data, Mapping) else None
    if isinstance(web, Mapping):  # the manager's page: its link signing keys
        _signing_keys(web, settings.base_dir, environ, rep)
    return [str(p) for p in dict.fromkeys(rep.problems)]


def _signing_keys(
    web: Mapping[str, Any], base_dir: Path, environ: Mapping[str, str], rep: cross.Reporter
) -> None:
    """The current and every previous key, as `serve` and `book` will read them."""
    places: list[tuple[tuple[str | int, ...], str, Any]] = [
        (("web", "signing_key_env"), "env", web.get("signing_key_env")),
        (("web", "signing_key_file"), "file", web.get("signing_key_file")),
    ]
    previous = web.get("previous_signing_keys")
    for n, ref in enumerate(previous if isinstance(previous, list) else []):
        if isinstance(ref, Mapping):
            places.append((("web", "previous_signing_keys", n, "env"), "env", ref.get("env")))
            places.append((("web", "previous_signing_keys", n, "file"), "file", ref.get("file")))
    for path, kind, value in places:
        if not value or not isinstance(value, str):
            continue
        if kind == "env":
            _, problem = signing_keys.key_from_env(value, environ)
        else:
            _, problem = signing_keys.key_from_file(_resolve(base_dir, value))
        if problem:
            rep.at(path, problem)


def _resolve(base_dir: Path, value: Any) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base_dir / path


def _secrets(
    options: Mapping[str, Any],
    where: tuple[str, ...],
    base_dir: Path,
    environ: Mapping[str, str],
    rep: cross.Reporter,
    made_on_use: frozenset[str] = frozenset(),
) -> None:
    """Secrets resolvable and files present, but for `made_on_use`: files the
    connector writes when it first needs them (checked by the connector's own part)."""
    for key, value in options.items():
        if not value or not isinstance(value, str):
            continue
        stem = key.removesuffix("_env").removesuffix("_file")
        if key.endswith("_env"):
            if not environ.get(value):
                rep.at(
                    (*where, key),
                    f"environment variable {value} is not set: export it where Coachpass "
                    f"runs (e.g. the service's EnvironmentFile), or use {stem}_file",
                )
        elif key.endswith("_file") and key not in SIGN_IN_ONLY | made_on_use:
            path = _resolve(base_dir, value)
            if key in WRITTEN_BY_SIGN_IN and not path.exists():
                rep.at(
                    (*where, key),
                    f"{path} does not exist: run `{WRITTEN_BY_SIGN_IN[key]}` to sign in",
                )
            elif not path.is_file():
                rep.at((*where, key), f"no such file: {path}")
            elif not os.access(path, os.R_OK):
                rep.at((*where, key), f"{path} is not readable by this user")


def _network(
    options: Mapping[str, Any], where: tuple[str, ...], base_dir: Path, rep: cross.Reporter
) -> None:
    proxy = options.get("proxy")
    if proxy:
        parts = urlsplit(str(proxy))
        if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
            rep.at(
                (*where, "proxy"),
                f"not a proxy URL: write it as http://proxy.example:3128 "
                f"(schemes: {', '.join(PROXY_SCHEMES)})",
            )
        elif parts.password:
            rep.at(
                (*where, "proxy"),
                "the proxy URL holds a password: secrets are never written in the config",
            )
    bundle = options.get("ca_bundle")
    if bundle:
        path = _resolve(base_dir, bundle)
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError:
            rep.at((*where, "ca_bundle"), f"no such file: {path}")
            return
        if "-----BEGIN CERTIFICATE-----" not in text:
            rep.at((*where, "ca_bundle"), f"{path} holds no PEM certificate")


def _google(
    options: Mapping[str, Any],
    where: tuple[str, ...],
    base_dir: Path,
    environ: Mapping[str, str],
    rep: cross.Reporter,
) -> None:
    from connectors.google.auth import no_delegation_message

    _token_cache(options, where, base_dir, rep)
    key_file, key_env = options.get("service_account_file"), options.get("service_account_env")
    if not (key_file or key_env or options.get("oauth_token_file")):
        rep.at(
            where,
            "set service_account_file (a service account key, with delegation: true) or "
            "oauth_token_file (written by `coachpass auth google`)",
        )
        return
    if not (key_file or key_env):
        return
    field = "service_account_file" if key_file else "service_account_env"
    text: str | None = None
    if key_file:
        path = _resolve(base_dir, key_file)
        if path.is_file() and os.access(path, os.R_OK):
            text = path.read_text(encoding="utf-8", errors="replace")
    else:
        text = environ.get(str(key_env)) or None
    if text is None:
        return  # reported as missing by _secrets
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if (
        not isinstance(info, dict)
        or info.get("type") != "service_account"
        or not info.get("client_email")
        or not info.get("private_key")
    ):
        rep.at(
            (*where, field),
            "not a service account key (JSON with type service_account, client_email and "
            "private_key): download a JSON key for the service account in Google Cloud",
        )
        return
    if options.get("delegation") is not True:
        message = no_delegation_message(options, str(info["client_email"]))
        rep.at((*where, "delegation"), message.removeprefix("google connector: "))


def _token_cache(
    options: Mapping[str, Any], where: tuple[str, ...], base_dir: Path, rep: cross.Reporter
) -> None:
    """Google's `token_cache_file`: made on first use, so it may be missing; what
    must hold is what the connector would refuse or fail at (never its content)."""
    from connectors.google.auth import TOKEN_CACHE_WITH_USER

    value = options.get("token_cache_file")
    if not value or not isinstance(value, str):
        return
    field = (*where, "token_cache_file")
    if not (options.get("service_account_file") or options.get("service_account_env")):
        if options.get("oauth_token_file"):
            rep.at(field, TOKEN_CACHE_WITH_USER.removeprefix("google connector: "))
        return
    path = _resolve(base_dir, value)
    if path.is_dir():
        rep.at(field, f"{path} is a folder: name a file in it (e.g. google-tokens.json)")
        return
    try:
        mode: int | None = path.stat().st_mode
    except OSError:  # not there yet (or its folder is not: said below)
        mode = None
    # World-readable is reported with every secret file (cross.check_secret_files).
    if mode is not None and mode & 0o077 and not mode & 0o004:
        rep.at(
            field,
            f"{path} is open to other users (mode {mode & 0o777:04o}) and holds access "
            f"tokens to every organiser's calendar: run chmod 600 {path}",
        )
    folder = next((p for p in path.parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        rep.at(
            field,
            f"{folder or path.parent} is not a folder this user may write in, so tokens could not "
            "be kept between commands: make it writable or choose another token_cache_file",
        )


def _outlook(options: Mapping[str, Any], where: tuple[str, ...], rep: cross.Reporter) -> None:
    for key, what in (("tenant_id", "the directory's GUID or domain"), ("client_id", "app id")):
        if not options.get(key):
            rep.at((*where, key), f"required: {what}")
    credentials = ("client_secret_env", "client_secret_file", "certificate_file")
    if not any(options.get(k) for k in (*credentials, "token_cache_file")):
        rep.at(
            where,
            "no credentials: set client_secret_env, client_secret_file or certificate_file "
            "(the service), or token_cache_file after `coachpass auth outlook`",
        )
    if options.get("certificate_file") and not options.get("certificate_thumbprint"):
        rep.at((*where, "certificate_thumbprint"), "required with certificate_file")
    scope = options.get("scope")
    if scope and not str(scope).startswith("https://"):
        rep.at((*where, "scope"), "write the scope as https://graph.microsoft.com/.default")


def _local(
    options: Mapping[str, Any],
    where: tuple[str, ...],
    loaded: LoadedYaml,
    settings: Settings,
    rep: cross.Reporter,
) -> None:
    reports = options.get("attendance_dir")
    if reports and not _resolve(settings.base_dir, reports).is_dir():
        rep.at(
            (*where, "attendance_dir"),
            f"attendance folder {_resolve(settings.base_dir, reports)} does not exist: "
            "create it (a meeting tool drops <session key>.json reports there) or leave "
            "attendance_dir out",
        )
    raw = options.get("path")
    if not raw:
        rep.at(where, "set path: the folder of .ics calendars")
        return
    folder = _resolve(settings.base_dir, raw)
    if not folder.is_dir():
        rep.at(
            (*where, "path"),
            f"calendar folder {folder} does not exist: create it with one .ics file per "
            "person (<id>.ics), or run `coachpass init` for a config with example calendars",
        )
        return
    lines = _person_paths(loaded.data)
    for person in settings.organisation.people():
        if person.connector != "local":
            continue
        calendar = _resolve(folder, person.calendar_id)
        if not calendar.exists():
            rep.at(
                lines.get(person.id, where),
                f"calendar of {person.id} not found: {calendar} (export it from their "
                "calendar program, or set `calendar:` to the file's name)",
            )


def _person_paths(data: Any) -> dict[str, tuple[str | int, ...]]:
    """person id -> YAML path of the person, for the line of a per-person problem."""
    found: dict[str, tuple[str | int, ...]] = {}
    teams = data.get("teams") if isinstance(data, Mapping) else None
    for t, team in enumerate(teams if isinstance(teams, list) else []):
        if not isinstance(team, Mapping):
            continue
        manager = team.get("manager")
        if isinstance(manager, Mapping):
            found[str(manager.get("id"))] = ("teams", t, "manager")
        sellers = team.get("sellers")
        for s, seller in enumerate(sellers if isinstance(sellers, list) else []):
            if isinstance(seller, Mapping):
                found[str(seller.get("id"))] = ("teams", t, "sellers", s)
    return found


__all__ = ["Problem", "check_connector_keys", "run"]
