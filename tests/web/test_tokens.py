"""Link tokens: what verifies, and that changing any part of one does not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.web.tokens import BadToken, Signer, key_id

KEY = b"k" * 40
OLD = b"o" * 40
NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=45)
SESSION = "cp0123456789abcdef0123456789abcdef"
OTHER = "cpfedcba9876543210fedcba9876543210"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _with_payload(token: str, **changes: str) -> str:
    """The token with one payload field changed and its MAC kept."""
    payload, mac = token.split(".")
    version, kid, session, manager, expiry = _unb64(payload).decode().split("\x1f")
    fields = {"version": version, "kid": kid, "session": session, "manager": manager}
    fields["expiry"] = expiry
    fields.update(changes)
    raw = "\x1f".join(fields[k] for k in ("version", "kid", "session", "manager", "expiry"))
    return f"{_b64(raw.encode())}.{mac}"


def test_a_signed_token_verifies_to_its_claims() -> None:
    signer = Signer.of(KEY)
    token = signer.sign(SESSION, "boss", LATER)
    claims = signer.verify(token, NOW)
    assert (claims.session_key, claims.manager_id, claims.key_id) == (SESSION, "boss", key_id(KEY))
    assert claims.expires == LATER
    assert all(c.isalnum() or c in "-_." for c in token), "URL-safe as it stands"


@pytest.mark.parametrize(
    "field,value",
    [
        ("session", OTHER),
        ("manager", "other-manager"),
        ("expiry", str(int((LATER + timedelta(days=365)).timestamp()))),
        ("kid", key_id(OLD)),
        ("version", "v2"),
    ],
)
def test_changing_any_part_of_the_payload_is_refused(field: str, value: str) -> None:
    signer = Signer.of(KEY, (OLD,))
    token = signer.sign(SESSION, "boss", LATER)
    with pytest.raises(BadToken):
        signer.verify(_with_payload(token, **{field: value}), NOW)


def test_a_changed_mac_and_garbage_are_refused() -> None:
    signer = Signer.of(KEY)
    token = signer.sign(SESSION, "boss", LATER)
    payload, mac = token.split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    for bad in (f"{payload}.{flipped}", f"{payload}.", payload, "", "a.b.c", "%%%.###", "x" * 700):
        with pytest.raises(BadToken):
            signer.verify(bad, NOW)


def test_expiry_is_exclusive() -> None:
    signer = Signer.of(KEY)
    token = signer.sign(SESSION, "boss", LATER)
    signer.verify(token, LATER - timedelta(seconds=1))
    with pytest.raises(BadToken, match="expired"):
        signer.verify(token, LATER)


def test_rotation_previous_keys_verify_only_the_current_signs() -> None:
    before = Signer.of(OLD)
    old_token = before.sign(SESSION, "boss", LATER)
    rotated = Signer.of(KEY, (OLD,))
    assert rotated.verify(old_token, NOW).key_id == key_id(OLD)
    new_token = rotated.sign(SESSION, "boss", LATER)
    assert rotated.verify(new_token, NOW).key_id == key_id(KEY)
    with pytest.raises(BadToken, match="unknown key"):
        before.verify(new_token, NOW)
    with pytest.raises(BadToken, match="unknown key"):  # dropped from the previous keys
        Signer.of(KEY).verify(old_token, NOW)


def test_a_key_another_installation_uses_cannot_sign_for_this_one() -> None:
    stranger = Signer.of(b"s" * 40)
    with pytest.raises(BadToken):
        Signer.of(KEY).verify(stranger.sign(SESSION, "boss", LATER), NOW)


def test_csrf_value_is_bound_to_the_link_and_the_nonce() -> None:
    signer = Signer.of(KEY)
    token = signer.sign(SESSION, "boss", LATER)
    other = signer.sign(OTHER, "boss", LATER)
    value = signer.csrf(token, "nonce-1")
    assert signer.csrf_ok(token, "nonce-1", value)
    assert not signer.csrf_ok(token, "nonce-2", value)
    assert not signer.csrf_ok(other, "nonce-1", value)
    assert not signer.csrf_ok(token, "", value)
    assert not signer.csrf_ok(token, "nonce-1", "")
    assert not signer.csrf_ok(token, "nonce-1", "ä" + value[1:])


def test_changing_any_single_character_is_refused() -> None:
    """Also the last character of each part, whose spare bits the base64 decoder
    ignores (…3E and …3F decode alike): only the canonical spelling verifies."""
    signer = Signer.of(b"k" * 40)
    token = signer.sign("session-key-1", "boss", NOW + timedelta(days=1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, char in enumerate(token):
        if char == ".":
            continue
        # The neighbour differs only in the lowest bit: the spare bit at the end.
        other = alphabet[alphabet.index(char) ^ 1]
        changed = token[:i] + other + token[i + 1 :]
        with pytest.raises(BadToken):
            signer.verify(changed, NOW)
    assert signer.verify(token, NOW).manager_id == "boss"
