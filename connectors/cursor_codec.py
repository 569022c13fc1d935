"""Opaque sync cursors: a JSON payload, compressed, URL-safe, with a prefix naming its
kind. A cursor that is not one of ours (another kind, truncated, edited) unpacks to
None, and the connector falls back to a full read instead of failing."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any


def pack(prefix: str, payload: dict[str, Any]) -> str:
    raw = zlib.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), 9)
    return prefix + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unpack(prefix: str, text: str | None) -> dict[str, Any] | None:
    if not text or not text.startswith(prefix):
        return None
    body = text[len(prefix) :]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, zlib.error, ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
