"""Tokens for Microsoft Graph, through msal.

Two ways in:

- **the service** (client credentials): an app registration with application
  permissions Calendars.ReadWrite (and Mail.Send for reports), its secret or
  certificate read from an env var or a file, never from the config itself;
- **an admin at a terminal** (device code): `authorize_device_code` signs in with
  delegated permissions and writes msal's serialised token cache (mode 0600); the
  connector then uses it when no client secret or certificate is configured.

msal talks HTTP through `MsalHttpClient`, a thin adapter over the connector's own
httpx client, so one transport (and `trust_env=False`) governs every request.
Messages name the tenant, the app and what to do; never a token or secret.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msal

from connectors.base import (
    AuthError,
    ConnectorContext,
    ConnectorError,
    ConnectorUserError,
    TransientError,
    resolve_secret,
)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
#: Delegated scopes for the device-code sign-in (msal adds offline_access itself).
DELEGATED_SCOPES = ("Calendars.ReadWrite", "Calendars.ReadWrite.Shared", "Mail.Send")


class MsalHttpClient:
    """msal's `http_client` interface (`get`/`post` returning a response with
    `status_code`, `text`, `headers`, `raise_for_status()`) over httpx."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, url: str, params: Any = None, headers: Any = None, **kw: Any) -> httpx.Response:
        return self.client.get(url, params=params, headers=headers, timeout=kw.get("timeout"))

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> httpx.Response:
        return self.client.post(
            url, params=params, data=data, headers=headers, timeout=kw.get("timeout")
        )

    def close(self) -> None:
        """msal may call this; the connector owns the client and closes it."""


def graph_scope(graph_endpoint: str) -> str:
    """`https://graph.microsoft.com/.default` for the endpoint's cloud (national clouds
    have their own Graph host, and a token is only valid for the host it names)."""
    parts = urlsplit(graph_endpoint)
    return f"{parts.scheme}://{parts.netloc}/.default"


def _authority(options: Mapping[str, Any]) -> str:
    tenant = str(options.get("tenant_id") or "").strip()
    if not tenant:
        raise ConnectorUserError(
            "outlook connector: set tenant_id (the directory's GUID or domain)"
        )
    host = str(options.get("authority_host") or DEFAULT_AUTHORITY_HOST).rstrip("/")
    if not host.startswith("https://"):
        raise ConnectorUserError(f"outlook connector: authority_host {host!r} must be https://")
    return f"{host}/{tenant}"


def _client_id(options: Mapping[str, Any]) -> str:
    client_id = str(options.get("client_id") or "").strip()
    if not client_id:
        raise ConnectorUserError("outlook connector: set client_id (the app registration's id)")
    return client_id


def _path(options: Mapping[str, Any], context: ConnectorContext, name: str) -> Path | None:
    value = options.get(name)
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else context.base_dir / path


def _who(options: Mapping[str, Any]) -> str:
    return f"tenant {options.get('tenant_id')}, app {options.get('client_id')}"


def _client_credential(
    options: Mapping[str, Any], context: ConnectorContext
) -> str | dict[str, str] | None:
    cert = _path(options, context, "certificate_file")
    if cert is not None:
        thumbprint = str(options.get("certificate_thumbprint") or "").replace(":", "").strip()
        if not thumbprint:
            raise ConnectorUserError(
                "outlook connector: certificate_file needs certificate_thumbprint "
                "(the SHA-1 thumbprint shown for the certificate in the app registration)"
            )
        try:
            pem = cert.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConnectorUserError(
                f"outlook connector: cannot read certificate_file {cert}: {exc.strerror}"
            ) from None
        return {"private_key": pem, "thumbprint": thumbprint}
    if options.get("client_secret_env"):
        return resolve_secret(options, "client_secret")
    secret_file = _path(options, context, "client_secret_file")
    if secret_file is not None:
        return resolve_secret({"client_secret_file": str(secret_file)}, "client_secret")
    return None


def _tls_failure(exc: BaseException) -> str | None:
    """The TLS reason when `exc` (or what caused it) is a failed TLS handshake."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return str(getattr(seen, "reason", None) or seen)
        if "CERTIFICATE_VERIFY_FAILED" in str(seen) or "[SSL" in str(seen):
            # "[SSL: X] certificate verify failed: self-signed certificate (_ssl.c:1006)"
            return str(seen).split("] ", 1)[-1].split(" (_ssl.c", 1)[0][:120]
        seen = seen.__cause__ or seen.__context__
    return None


def sign_in_failure(
    options: Mapping[str, Any], exc: Exception, *, discovery: bool = True
) -> ConnectorError:
    """What msal's errors while it talks to the sign-in service mean to an admin.

    msal fetches the tenant's OpenID configuration when its app object is built and
    raises plain `ValueError`s and the HTTP client's errors; none of those may reach
    the user as a traceback. The message names tenant, app and host, never a secret.
    """
    who = _who(options)
    host = str(options.get("authority_host") or DEFAULT_AUTHORITY_HOST)
    if isinstance(exc, ValueError) and not discovery:
        return AuthError(
            f"outlook connector ({who}): sign-in at {host} failed ({type(exc).__name__}): "
            "check tenant_id, client_id and the credential (secret or certificate_file)"
        )
    if isinstance(exc, ValueError):
        # msal turns a 4xx from the tenant's OpenID configuration into a ValueError:
        # the directory is not known there (or the host is no sign-in service).
        return ConnectorUserError(
            f"outlook connector ({who}): the sign-in service at {host} does not know "
            f"tenant_id {options.get('tenant_id')!r}: check tenant_id (the directory's "
            "GUID or primary domain) and authority_host"
        )
    reason = _tls_failure(exc)
    if reason is not None:
        return ConnectorUserError(
            f"outlook connector ({who}): TLS with the sign-in service at {host} failed "
            f"({reason}): check authority_host; behind a proxy that inspects TLS, name its CA "
            "in the connector's ca_bundle option"
        )
    if isinstance(exc, httpx.HTTPStatusError):
        what = f"answered HTTP {exc.response.status_code}"
    else:
        what = f"could not be reached ({type(exc).__name__})"
    return TransientError(
        f"outlook connector ({who}): the sign-in service at {host} {what}; check "
        "authority_host, the network and the proxy option; the next run tries again"
    )


class TokenSource:
    """Hands out a valid access token; msal caches and renews it."""

    def __init__(
        self, options: Mapping[str, Any], context: ConnectorContext, http: httpx.Client
    ) -> None:
        self.options = options
        self.who = _who(options)
        # `scope` overrides the one derived from the endpoint (a Graph reached through
        # a gateway host, or a national cloud whose token audience differs).
        self.scope = str(options.get("scope") or "") or graph_scope(
            str(options.get("graph_endpoint") or DEFAULT_GRAPH_ENDPOINT)
        )
        self._lock = threading.Lock()
        self._force = False  # the next delegated token must come from the refresh token
        self._http = MsalHttpClient(http)
        authority = _authority(options)
        client_id = _client_id(options)
        credential = _client_credential(options, context)
        self.cache_file = _path(options, context, "token_cache_file")
        try:
            self.app = self._build_app(client_id, authority, credential)
        except (httpx.HTTPError, ValueError) as exc:
            raise sign_in_failure(options, exc) from None

    def _build_app(
        self, client_id: str, authority: str, credential: str | dict[str, str] | None
    ) -> msal.ClientApplication:
        """msal's app object; building it already asks the sign-in service for the
        tenant's configuration (see `sign_in_failure` for what can go wrong)."""
        if credential is not None:
            self.delegated = False
            return msal.ConfidentialClientApplication(
                client_id,
                client_credential=credential,
                authority=authority,
                http_client=self._http,
                instance_discovery=False,
            )
        if self.cache_file is not None:
            self.delegated = True
            cache = load_cache(self.cache_file, self.who)
            return msal.PublicClientApplication(
                client_id,
                authority=authority,
                http_client=self._http,
                instance_discovery=False,
                token_cache=cache,
            )
        raise ConnectorUserError(
            f"outlook connector ({self.who}): no credentials: set client_secret_env, "
            "client_secret_file or certificate_file (service), or token_cache_file "
            "after `coachpass auth outlook`"
        )

    def renew(self) -> None:
        """Forget the cached access token: Graph refused it (401) before it expired
        by msal's clock (revoked, or consent changed), so the next `token()` must ask
        the sign-in service instead of handing the same one out again."""
        with self._lock:
            self._force = True
            cache = self.app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)

    def token(self) -> str:
        with self._lock:
            try:
                if self.delegated:
                    result = self._delegated_token()
                else:
                    app = self.app
                    assert isinstance(app, msal.ConfidentialClientApplication)
                    result = app.acquire_token_for_client([self.scope])
            except (httpx.HTTPError, ValueError) as exc:
                raise sign_in_failure(self.options, exc, discovery=False) from None
        if not result or "access_token" not in result:
            raise AuthError(token_error_message(self.who, result or {}))
        return str(result["access_token"])

    def _delegated_token(self) -> dict[str, Any] | None:
        accounts = self.app.get_accounts()
        if not accounts:
            raise AuthError(
                f"outlook connector ({self.who}): token cache {self.cache_file} holds no "
                "sign-in: run `coachpass auth outlook` again"
            )
        scopes = list(DELEGATED_SCOPES)
        force, self._force = self._force, False
        result = self.app.acquire_token_silent(scopes, account=accounts[0], force_refresh=force)
        if result is None:
            raise AuthError(
                f"outlook connector ({self.who}): the sign-in in {self.cache_file} has "
                "expired or was revoked: run `coachpass auth outlook` again"
            )
        if self.cache_file is not None:
            save_cache(self.app.token_cache, self.cache_file)
        return result


def token_error_message(who: str, result: Mapping[str, Any]) -> str:
    error = str(result.get("error") or "unknown_error")
    # Keep only the AADSTS code and first sentence: the rest is trace/correlation noise.
    description = str(result.get("error_description") or "").split("\r\n")[0].split("\n")[0]
    hint = {
        "invalid_client": "the client secret or certificate is wrong or expired: renew it in "
        "the app registration and update the env var / file",
        "unauthorized_client": "client_id is not an app of this tenant: check client_id "
        "and tenant_id",
        "invalid_tenant": "tenant_id is not a known directory",
        "invalid_scope": "the app lacks the Graph application permissions: grant "
        "Calendars.ReadWrite (and Mail.Send) with admin consent",
        "invalid_grant": "the sign-in was revoked or expired: run `coachpass auth outlook`",
    }.get(error, "check tenant_id, client_id and the credential")
    return f"outlook connector ({who}): sign-in failed ({error}: {description}); {hint}"


def load_cache(path: Path, who: str) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    try:
        cache.deserialize(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuthError(
            f"outlook connector ({who}): token cache {path} does not exist: "
            "run `coachpass auth outlook` first"
        ) from None
    except (OSError, ValueError) as exc:
        raise AuthError(
            f"outlook connector ({who}): cannot read token cache {path} "
            f"({type(exc).__name__}): run `coachpass auth outlook` again"
        ) from None
    return cache


def save_cache(cache: msal.SerializableTokenCache, path: Path) -> None:
    if not cache.has_state_changed:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Created 0600 from the start: the cache holds a refresh token.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(cache.serialize())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def device_code_sign_in(
    options: Mapping[str, Any],
    context: ConnectorContext,
    http: httpx.Client,
    echo: Callable[[str], None],
) -> Path:
    """Device code flow: show the code, wait for the admin, write the cache (0600)."""
    who = _who(options)
    cache_file = _path(options, context, "token_cache_file")
    if cache_file is None:
        raise ConnectorUserError(
            f"outlook connector ({who}): set token_cache_file to where the sign-in is kept"
        )
    cache = msal.SerializableTokenCache()
    if cache_file.exists():
        cache = load_cache(cache_file, who)
    try:
        app = msal.PublicClientApplication(
            _client_id(options),
            authority=_authority(options),
            http_client=MsalHttpClient(http),
            instance_discovery=False,
            token_cache=cache,
        )
    except (httpx.HTTPError, ValueError) as exc:
        raise sign_in_failure(options, exc) from None
    try:
        flow = app.initiate_device_flow(scopes=list(DELEGATED_SCOPES))
    except (httpx.HTTPError, ValueError) as exc:
        raise AuthError(
            f"outlook connector ({who}): cannot start the device sign-in "
            f"({type(exc).__name__}); check authority_host and tenant_id"
        ) from None
    if "user_code" not in flow:
        raise AuthError(token_error_message(who, flow))
    echo(str(flow["message"]))
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise AuthError(token_error_message(who, result))
    save_cache(cache, cache_file)
    return cache_file
