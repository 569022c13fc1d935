"""The manager's page's link signing keys: where one is read from and what makes one
unusable, said the same way by `config validate` (offline) and by `serve`/`book`.

A key comes from an environment variable or a file (never the config). A file
others or the group can read is refused, as ssh refuses such a key; a key shorter
than 32 characters is refused (HMAC-SHA256 wants at least 32 bytes of secret).
Messages name the variable or file, never the key.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

MIN_KEY_CHARS = 32
MAKE_ONE = "make one with `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"


def _checked(key: str, where: str) -> tuple[str | None, str | None]:
    if not key:
        return None, f"{where} is empty: put a key of at least {MIN_KEY_CHARS} characters in it"
    if len(key) < MIN_KEY_CHARS:
        return None, f"the key in {where} is shorter than {MIN_KEY_CHARS} characters: {MAKE_ONE}"
    return key, None


def key_from_env(name: str, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(key, None) or (None, what to fix)."""
    if name not in environ:
        return None, (
            f"environment variable {name} is not set: export it where Coachpass runs "
            f"(e.g. the service's EnvironmentFile)"
        )
    return _checked(environ[name].strip(), f"environment variable {name}")


def key_from_file(path: Path) -> tuple[str | None, str | None]:
    """(key, None) or (None, what to fix)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None, f"no such file: {path}"
    if not stat.S_ISREG(mode):
        return None, f"no such file: {path} (a directory or not a regular file)"
    if mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        return None, (
            f"{path} can be read or written by others than its owner (mode "
            f"{stat.S_IMODE(mode):04o}): run chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror}"
    except UnicodeDecodeError:
        return None, f"{path} is not UTF-8 text: {MAKE_ONE}"
    return _checked(text.strip(), f"file {path}")


def read_key(
    env: str | None, file: str | None, environ: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    """The key from `env` (a variable name) or `file` (a path), or what to fix."""
    if env:
        return key_from_env(env, os.environ if environ is None else environ)
    return key_from_file(Path(str(file)).expanduser())
