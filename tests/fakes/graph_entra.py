"""The fake Entra ID (Azure AD) endpoints msal talks to: OIDC discovery, token
(client credentials by secret or certificate assertion, device code, refresh) and
device code. Mixed into FakeGraph, which holds the state (tokens, devices, secret).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

Answer = tuple[int, dict[str, str], Any]

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "fake-client-secret-value"
DEVICE_LOGIN = "https://microsoft.com/devicelogin"
USER_SCOPES = "Calendars.ReadWrite Calendars.ReadWrite.Shared Mail.Send"


class EntraEndpoints:
    lock: threading.RLock
    tokens: dict[str, str]
    token_roles: dict[str, frozenset[str]]  # what each token may do: roles, or scopes
    devices: dict[str, dict[str, Any]]
    secret: str
    auto_approve_devices: bool
    app_roles: set[str]  # application permissions granted to the app (token `roles`)

    @property
    def authority_host(self) -> str:
        raise NotImplementedError

    def approve_device(self, user_code: str) -> None:
        """The admin typed the code on the sign-in page."""
        with self.lock:
            for flow in self.devices.values():
                if flow["user_code"] == user_code:
                    flow["approved"] = True

    def _auth(self, method: str, path: str, body: bytes) -> Answer:
        seg = [s for s in path.split("/") if s]
        if len(seg) < 2 or seg[0] != TENANT:
            return 400, {}, {"error": "invalid_tenant", "error_description": "AADSTS90002: tenant"}
        base = f"{self.authority_host}/{TENANT}"
        if seg[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return (
                200,
                {},
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "issuer": f"{base}/v2.0",
                },
            )
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if seg[1:] == ["oauth2", "v2.0", "devicecode"]:
            code = secrets.token_urlsafe(12)
            user_code = secrets.token_hex(4).upper()
            with self.lock:
                self.devices[code] = {"user_code": user_code, "approved": self.auto_approve_devices}
            return (
                200,
                {},
                {
                    "device_code": code,
                    "user_code": user_code,
                    "verification_uri": DEVICE_LOGIN,
                    "expires_in": 900,
                    "interval": 1,
                    "message": f"To sign in, open {DEVICE_LOGIN} and enter {user_code}",
                },
            )
        if seg[1:] != ["oauth2", "v2.0", "token"]:
            return 404, {}, {"error": "not_found"}
        grant = form.get("grant_type", "")
        if form.get("client_id") != CLIENT_ID:
            return (
                400,
                {},
                {
                    "error": "unauthorized_client",
                    "error_description": f"AADSTS700016: app '{form.get('client_id')}' not found",
                },
            )
        if grant == "client_credentials":
            ok = form.get("client_secret") == self.secret or _assertion_ok(form)
            if not ok:
                return (
                    401,
                    {},
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    },
                )
            return 200, {}, self._issue("app")
        if grant in ("urn:ietf:params:oauth:grant-type:device_code", "device_code"):
            flow = self.devices.get(form.get("device_code", ""))
            if flow is None:
                return 400, {}, {"error": "expired_token", "error_description": "AADSTS70019"}
            if not flow["approved"]:
                return (
                    400,
                    {},
                    {"error": "authorization_pending", "error_description": "AADSTS70016"},
                )
            return 200, {}, self._issue("user", id_token=True)
        if grant == "refresh_token":
            return 200, {}, self._issue("user", id_token=True)
        return 400, {}, {"error": "unsupported_grant_type"}

    def _issue(self, kind: str, *, id_token: bool = False) -> dict[str, Any]:
        token = "fake-at-" + secrets.token_urlsafe(16)
        if kind == "app":
            # Entra's app tokens for Graph are JWTs whose `roles` claim lists the
            # application permissions with admin consent (signature not modelled).
            claims = {
                "aud": "https://graph.microsoft.com",
                "tid": TENANT,
                "roles": sorted(self.app_roles),
            }
            token = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), token])
        # Permissions are fixed when the token is issued: granting one later takes
        # a new token, as with Entra.
        granted = self.app_roles if kind == "app" else set(USER_SCOPES.split())
        with self.lock:
            self.tokens[token] = kind
            self.token_roles[token] = frozenset(granted)
        out: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3600, "access_token": token}
        if id_token:
            now = int(time.time())
            claims = {
                "iss": f"{self.authority_host}/{TENANT}/v2.0",
                "aud": CLIENT_ID,
                "sub": "admin-sub",
                "oid": "admin-oid",
                "tid": TENANT,
                "preferred_username": "admin@example.com",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
            }
            out["id_token"] = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])
            out["refresh_token"] = "fake-rt-" + secrets.token_urlsafe(16)
            out["client_info"] = _b64({"uid": "admin-oid", "utid": TENANT})
            out["scope"] = USER_SCOPES
        return out


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _assertion_ok(form: dict[str, str]) -> bool:
    """A certificate credential: a JWT whose issuer is our client (signature not checked)."""
    if (
        form.get("client_assertion_type")
        != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ):
        return False
    try:
        payload = form["client_assertion"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (KeyError, IndexError, ValueError):
        return False
    return bool(claims.get("iss") == CLIENT_ID)
