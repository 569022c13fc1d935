"""The link signing keys, read from the secret store the config names.

Like every other secret: an environment variable or a file, never the config
itself; what makes a key unusable (`scheduler.settings.signing_keys`) is what
`config validate` checks offline too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.errors import UserError
from scheduler.settings.build import WebSettings
from scheduler.settings.signing_keys import MIN_KEY_CHARS
from scheduler.settings.signing_keys import read_key as read_signing_key
from scheduler.web.tokens import Signer

MIN_KEY_BYTES = MIN_KEY_CHARS


def read_key(ref: Mapping[str, Any], what: str) -> bytes:
    key, problem = read_signing_key(ref.get("signing_key_env"), ref.get("signing_key_file"))
    if key is None:
        raise UserError(f"{what}: {problem}")
    return key.encode("utf-8")


def signer(web: WebSettings) -> Signer:
    """The current key signs; `previous_signing_keys` still verify."""
    current = read_key(web.signing_key, "web.signing_key")
    previous = tuple(
        read_key(ref, f"web.previous_signing_keys[{n}]") for n, ref in enumerate(web.previous_keys)
    )
    return Signer.of(current, previous)
