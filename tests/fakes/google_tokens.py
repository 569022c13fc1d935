"""The OAuth token endpoint of the fake: service-account JWT bearer and refresh grants.

Service accounts: the fake makes an RSA key pair per account and writes a key file
shaped like Google's (with `token_uri` pointing at the fake); a JWT assertion is
accepted only with a valid RS256 signature by that key, `aud` equal to the token URI,
an unexpired `exp`, scopes Coachpass may ask for, and a `sub` (the impersonated user)
that exists in the domain when delegation is used.

OAuth user credentials: an authorized-user file with a refresh token; a test can
revoke the refresh token to see the connector's message for an expired grant.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE_EVENTS = "https://www.googleapis.com/auth/calendar.events"
SCOPE_FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
SCOPE_FULL = "https://www.googleapis.com/auth/calendar"
SCOPE_MEET = "https://www.googleapis.com/auth/meetings.space.readonly"
SCOPE_DIRECTORY = "https://www.googleapis.com/auth/admin.directory.user.readonly"
KNOWN_SCOPES = frozenset(
    {
        SCOPE_EVENTS,
        SCOPE_FREEBUSY,
        SCOPE_FULL,
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar.events.freebusy",
        SCOPE_MEET,
        SCOPE_DIRECTORY,
        "https://www.googleapis.com/auth/gmail.send",  # the Gmail report mailer
    }
)


@dataclass(frozen=True)
class Grant:
    subject: str  # the user the token acts as (the service account itself without `sub`)
    scopes: frozenset[str]
    expires: float
    service_account: bool = False  # a service account acting as itself (no delegation)


class TokenIssuer:
    def __init__(self, token_uri: str, users: Any) -> None:
        self.token_uri = token_uri
        self._users = users  # callable: email -> bool (is a user of the domain)
        self._lock = threading.Lock()
        self._public_keys: dict[str, Any] = {}
        self._clients: dict[str, str] = {}
        self._refresh: dict[str, tuple[str, frozenset[str]]] = {}
        self._tokens: dict[str, Grant] = {}
        self.lifetime = 3600
        # Scopes the Admin console grants the service account's domain-wide
        # delegation; None: every known scope. Asking a delegated token for more is
        # refused with Google's unauthorized_client.
        self.delegated_scopes: frozenset[str] | None = None

    # -- credentials a test hands to the connector --------------------------------

    def service_account_file(
        self, folder: Path, email: str = "coachpass@proj.iam.gserviceaccount.com"
    ) -> Path:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with self._lock:
            self._public_keys[email] = key.public_key()
        path = folder / "service-account.json"
        info = {
            "type": "service_account",
            "project_id": "proj",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
        }
        path.write_text(json.dumps(info), encoding="utf-8")
        path.chmod(0o600)  # as an admin keeps a key: config checks refuse a world-readable one
        return path

    def authorized_user_file(self, folder: Path, account: str, scopes: frozenset[str]) -> Path:
        client_id, client_secret = "client-" + secrets.token_hex(4), secrets.token_hex(12)
        refresh = "1//" + secrets.token_hex(16)
        with self._lock:
            self._clients[client_id] = client_secret
            self._refresh[refresh] = (account.lower(), scopes)
        path = folder / "google-token.json"
        info = {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh,
            "token_uri": self.token_uri,
            "scopes": sorted(scopes),
            "account": account,
        }
        path.write_text(json.dumps(info), encoding="utf-8")
        return path

    def revoke_all(self) -> None:
        """Every refresh token and access token stops working (a revoked grant)."""
        with self._lock:
            self._refresh.clear()
            self._tokens.clear()

    def invalidate_access_tokens(self) -> None:
        """Access tokens issued so far answer 401 from now on; keys and refresh tokens
        still work (Google ends tokens early, e.g. after a password change)."""
        with self._lock:
            self._tokens.clear()

    # -- endpoint -------------------------------------------------------------------

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant_type = form.get("grant_type")
        if grant_type == JWT_BEARER:
            return self._jwt_grant(form.get("assertion", ""))
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        return 400, {"error": "unsupported_grant_type"}

    def _jwt_grant(self, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            key = self._public_keys[unverified["iss"]]
            # google-auth always signs for Google's own endpoint, whatever token_uri is.
            claims = jwt.decode(
                assertion, key, algorithms=["RS256"], audience=[self.token_uri, GOOGLE_TOKEN_URI]
            )
        except (jwt.PyJWTError, KeyError) as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes or not scopes <= KNOWN_SCOPES:
            return 400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope."}
        subject = claims.get("sub")
        if subject is not None and not self._users(subject):
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
        granted = self.delegated_scopes
        if subject is not None and granted is not None and not scopes <= granted:
            return 401, {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens "
                "using this method, or client not authorized for any of the scopes "
                "requested.",
            }
        return 200, self._new_token(
            (subject or claims["iss"]).lower(), scopes, service_account=subject is None
        )

    def _refresh_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._clients.get(form.get("client_id", "")) != form.get("client_secret"):
                return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
            known = self._refresh.get(form.get("refresh_token", ""))
        if known is None:
            return 400, {
                "error": "invalid_grant",
                "error_description": "Token has been expired or revoked.",
            }
        account, scopes = known
        body = self._new_token(account, scopes)
        body["scope"] = " ".join(sorted(scopes))
        return 200, body

    def _new_token(
        self, subject: str, scopes: frozenset[str], *, service_account: bool = False
    ) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = Grant(
                subject, scopes, time.time() + self.lifetime, service_account
            )
        return {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}

    def grant(self, authorization: str | None) -> Grant | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            grant = self._tokens.get(authorization[7:])
        if grant is None or grant.expires < time.time():
            return None
        return grant
