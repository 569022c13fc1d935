"""The link signing keys, read from the secret store the config names.

Like every other secret: an environment variable or a file (`resolve_secret`), never
the config itself. A key file others can read is refused, as ssh refuses such a key;
a short key is refused too (HMAC-SHA256 wants at least 32 bytes of secret).
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.base import ConnectorUserError, resolve_secret
from scheduler.errors import UserError
from scheduler.settings.build import WebSettings
from scheduler.web.tokens import Signer

MIN_KEY_BYTES = 32


def _where(ref: Mapping[str, Any]) -> str:
    if ref.get("signing_key_env"):
        return f"environment variable {ref['signing_key_env']}"
    return f"file {ref.get('signing_key_file')}"


def read_key(ref: Mapping[str, Any], what: str) -> bytes:
    file = ref.get("signing_key_file")
    if file:
        try:
            mode = Path(str(file)).stat().st_mode
        except OSError:
            mode = 0  # resolve_secret names the file and the reason below
        if stat.S_ISREG(mode) and mode & stat.S_IROTH:
            raise UserError(
                f"{what}: {file} is readable by every user of this machine (mode "
                f"{stat.S_IMODE(mode):04o}): run chmod 600 {file}"
            )
    try:
        value = resolve_secret(ref, "signing_key")
    except ConnectorUserError as exc:
        raise UserError(f"{what}: {exc}") from None
    key = (value or "").strip().encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise UserError(
            f"{what} in {_where(ref)} is shorter than {MIN_KEY_BYTES} characters: make one "
            f"with `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    return key


def signer(web: WebSettings) -> Signer:
    """The current key signs; `previous_signing_keys` still verify."""
    current = read_key(web.signing_key, "web.signing_key")
    previous = tuple(
        read_key(ref, f"web.previous_signing_keys[{n}]") for n, ref in enumerate(web.previous_keys)
    )
    return Signer.of(current, previous)
