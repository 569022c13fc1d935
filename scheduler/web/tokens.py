"""Signed, expiring link tokens for the manager's page. Pure: keys and time are given.

A token binds one session to its manager until an expiry:

    base64url(payload) "." base64url(HMAC-SHA256(key, purpose + payload))
    payload = "v1" US key-id US session-key US manager-id US expiry (Unix seconds)

The key id names which signing key made the MAC, so keys can rotate: the current
key signs, previous keys still verify until their links expire. Nothing is stored
to look a token up (as itsdangerous's signed serializers), and the MAC is compared in
constant time. Any failure is a `BadToken` whose reason is for the log only: the
page answers every bad token with the same 403.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = "v1"
#: Binds a MAC to this use: the same key never signs anything that could pass for a
#: link token (the page's CSRF values are made with another purpose).
PURPOSE = b"coachpass/manager-link\x00"
CSRF_PURPOSE = b"coachpass/csrf\x00"
_SEP = "\x1f"
#: Longest token accepted before any work is done on it (a key is 64, an id 100).
MAX_TOKEN = 600


class BadToken(Exception):
    """The token is not a valid link (why: for the log, never for the visitor)."""


@dataclass(frozen=True)
class LinkClaims:
    key_id: str
    session_key: str
    manager_id: str
    expires: datetime


def key_id(secret: bytes) -> str:
    """A short name of a key derived from it, so the config needs no key ids: the
    same key always has the same id, and the id reveals nothing of the key."""
    return hashlib.sha256(b"coachpass/key-id\x00" + secret).hexdigest()[:8]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _B64_CHARS for c in text):
        raise BadToken("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadToken("not base64url") from None
    # The decoder ignores the spare bits of the last character, so "…3E" and "…3F"
    # decode alike: only the one canonical spelling is accepted, and any changed
    # character makes the token invalid.
    if _b64(data) != text:
        raise BadToken("not canonical base64url")
    return data


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class Signer:
    """`current` signs; every key in `keys` (id -> secret, current included) verifies."""

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def of(cls, current: bytes, previous: tuple[bytes, ...] = ()) -> Signer:
        keys = {key_id(k): k for k in previous}
        keys[key_id(current)] = current
        return cls(key_id(current), keys)

    def sign(self, session_key: str, manager_id: str, expires: datetime) -> str:
        for part in (session_key, manager_id):
            if not part or _SEP in part:
                raise ValueError(f"cannot sign {part!r}")
        stamp = int(expires.astimezone(UTC).timestamp())
        payload = _SEP.join((VERSION, self.current, session_key, manager_id, str(stamp))).encode()
        mac = hmac.new(self.keys[self.current], PURPOSE + payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(mac)}"

    def verify(self, token: str, now: datetime) -> LinkClaims:
        """The claims of a genuine, unexpired token; `BadToken` otherwise."""
        if len(token) > MAX_TOKEN or token.count(".") != 1:
            raise BadToken("malformed")
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
        try:
            version, kid, session_key, manager_id, stamp = payload.decode("utf-8").split(_SEP)
        except (UnicodeDecodeError, ValueError):
            raise BadToken("malformed payload") from None
        if version != VERSION:
            raise BadToken(f"unknown version {version!r}")
        secret = self.keys.get(kid)
        if secret is None:
            raise BadToken(f"unknown key id {kid!r} (rotated out?)")
        expected = hmac.new(secret, PURPOSE + payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise BadToken("bad signature")
        if not stamp.isdigit():
            raise BadToken("malformed expiry")
        expires = datetime.fromtimestamp(int(stamp), UTC)
        if now >= expires:
            raise BadToken(f"expired {expires:%Y-%m-%d %H:%M} UTC")
        return LinkClaims(kid, session_key, manager_id, expires)

    def csrf(self, token: str, nonce: str) -> str:
        """The form value that goes with a link token and the browser's cookie nonce
        (double submit: a forger knows neither the cookie nor the key)."""
        mac = hmac.new(
            self.keys[self.current], CSRF_PURPOSE + f"{token}\x00{nonce}".encode(), hashlib.sha256
        )
        return _b64(mac.digest())

    def csrf_ok(self, token: str, nonce: str, value: str) -> bool:
        if not nonce or not value:
            return False
        return hmac.compare_digest(self.csrf(token, nonce).encode(), value.encode("utf-8"))
