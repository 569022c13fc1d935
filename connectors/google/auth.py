"""Google credentials: a service account (with domain-wide delegation) or OAuth user
credentials from `coachpass auth google`.

Scopes are the least that Coachpass needs:
- `calendar.events`: create, move and cancel the sessions and read them back (sync);
- `calendar.freebusy`: read managers' and sellers' busy times without seeing the
  contents of their events;
- for verified attendance (optional): `meetings.space.readonly` (who was in a
  session's Meet call) and `admin.directory.user.readonly` (each person's Google
  user id, to recognise them among the participants).

One token per organiser carries all of them, so attendance costs no extra token.
When the Admin console has not granted the attendance scopes, Google refuses that
token (unauthorized_client): from then on every organiser gets a token for the
calendar scopes alone (the grant is domain-wide, so one refusal per process), booking
goes on, and attendance answers name the scopes to grant.

A refresh that fails (revoked or expired grant, delegation not granted, wrong key)
raises `AuthError` naming the account and the command or setting that fixes it;
the token, key and client secret never appear in a message.

With `token_cache_file` a service account's tokens outlive the process (see
token_cache.py): each organiser's token is fetched once in its hour, not once per
command. A signed-in user's token is kept in `oauth_token_file` already.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.base import AuthError, ConnectorContext, ConnectorUserError, resolve_secret
from connectors.google.token_cache import CachedCredentials, TokenCache, cache_key, write_private

SCOPES = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.freebusy",
)
MEET_SCOPE = "https://www.googleapis.com/auth/meetings.space.readonly"
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
ATTENDANCE_SCOPES = (MEET_SCOPE, DIRECTORY_SCOPE)
AUTH_COMMAND = "coachpass auth google"
#: OAuth errors of a token request asking for scopes the grant does not cover.
SCOPE_REFUSALS = frozenset({"unauthorized_client", "invalid_scope", "access_denied"})


def resolve_path(context: ConnectorContext, value: Any) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else context.base_dir / path


def http_transport(options: Mapping[str, Any], context: ConnectorContext) -> Any:
    """The one httplib2 connection pool (API, batches and token refreshes alike),
    with the configured `proxy` and `ca_bundle`.

    httplib2 reads proxy variables from the environment by default; a service must
    not change its network path when a shell profile does, so without a `proxy`
    option no proxy is used at all (the same rule as the Graph client's trust_env)."""
    import httplib2

    proxy_info = None
    proxy = options.get("proxy")
    if proxy:
        try:
            import socks  # noqa: F401  (PySocks: httplib2 tunnels through proxies with it)

            proxy_info = httplib2.proxy_info_from_url(str(proxy))
        except ImportError:
            raise ConnectorUserError(
                "google connector: `proxy` needs the PySocks package: pip install PySocks"
            ) from None
        except (ValueError, AttributeError, TypeError):
            raise ConnectorUserError(
                f"google connector: proxy {proxy!r} is not a URL like http://proxy.example:3128"
            ) from None
    ca_certs = None
    if options.get("ca_bundle"):
        bundle = resolve_path(context, options["ca_bundle"])
        if not bundle.is_file():
            raise ConnectorUserError(f"google connector: ca_bundle {bundle} does not exist")
        ca_certs = str(bundle)
    return httplib2.Http(
        timeout=float(options.get("timeout_seconds", 60)),
        proxy_info=proxy_info,
        ca_certs=ca_certs,
    )


class CredentialSource:
    """Hands out credentials per organiser and turns refresh failures into AuthErrors.

    Service account + `delegation: true`: one credential per impersonated user
    (`with_subject`). Otherwise one credential for everything: the signed-in user of
    the OAuth token file. A service account without delegation is refused: acting as
    itself it may not invite anybody.
    """

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext) -> None:
        self.delegation = bool(options.get("delegation", False))
        self.token_uri = options.get("token_uri")
        self._lock = threading.Lock()
        self._by_subject: dict[str | None, Any] = {}
        # True once a token with the attendance scopes was refused: from then on every
        # organiser gets the calendar scopes only (see the module docstring). One
        # switch for all: domain-wide delegation grants scopes to the client id for
        # the whole domain, so what one organiser is refused, all are.
        self.narrowed = False
        self.token_file: Path | None = None
        self._saved_token: str | None = None
        # Tokens shared with other processes (service accounts only; None: in memory).
        self.cache: TokenCache | None = None
        self.client_id = ""  # a service account's (see _service_account)
        if options.get("service_account_file") or options.get("service_account_env"):
            self.kind = "service_account"
            self._base = self._service_account(options)
            self._wide = self._base.with_scopes([*SCOPES, *ATTENDANCE_SCOPES])
            self.account = str(self._base.service_account_email)
            if not self.delegation:
                # Google answers 403 forbiddenForServiceAccounts to every invitation
                # a service account sends as itself: refuse now, not at booking time.
                raise ConnectorUserError(no_delegation_message(options, self.account))
            if options.get("token_cache_file"):
                self.cache = TokenCache(resolve_path(context, options["token_cache_file"]))
        elif options.get("oauth_token_file"):
            if options.get("token_cache_file"):
                raise ConnectorUserError(TOKEN_CACHE_WITH_USER)
            if self.delegation:
                raise ConnectorUserError(
                    "google connector: delegation needs service_account_file, not oauth_token_file"
                )
            self.kind = "oauth_user"
            self.token_file = resolve_path(context, options["oauth_token_file"])
            self._base = self._user(self.token_file)
            self._wide = self._base
            self.account = str(getattr(self._base, "account", "") or "") or "the signed-in user"
        else:
            raise ConnectorUserError(
                "google connector: set service_account_file (service account key) or "
                f"oauth_token_file (written by `{AUTH_COMMAND}`) in the connector settings"
            )

    def _service_account(self, options: Mapping[str, Any]) -> Any:
        from google.oauth2 import service_account

        text = resolve_secret(options, "service_account")
        where = options.get("service_account_file") or f"${options.get('service_account_env')}"
        try:
            info = json.loads(text or "")
            creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            # Names the account in token cache keys (the numeric id the Admin console
            # grants scopes to); never anything of the key itself.
            self.client_id = str(info.get("client_id") or info["client_email"])
        except (ValueError, KeyError) as exc:
            # ValueError texts from google-auth name missing fields, never key material.
            raise ConnectorUserError(
                f"google connector: {where} is not a service account key file "
                f"({type(exc).__name__}); download a JSON key for the service account"
            ) from None
        if self.token_uri:
            creds = creds.with_token_uri(str(self.token_uri))
        return creds

    def _user(self, path: Path) -> Any:
        from google.oauth2.credentials import Credentials

        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AuthError(
                f"google connector: no token file {path}; run `{AUTH_COMMAND}` to sign in"
            ) from None
        except (OSError, ValueError) as exc:
            raise AuthError(
                f"google connector: cannot read token file {path} ({type(exc).__name__}); "
                f"run `{AUTH_COMMAND}` to sign in again"
            ) from None
        # Refresh asks for what this sign-in granted: the calendar scopes, plus the
        # attendance ones when the sign-in (a newer `coachpass auth google`) has them.
        # Asking for more than was granted would fail every refresh.
        granted = set(info.get("scopes") or ()) if isinstance(info, dict) else set()
        scopes = [*SCOPES, *(s for s in ATTENDANCE_SCOPES if s in granted)]
        try:
            creds = Credentials.from_authorized_user_info(info, scopes=scopes)
        except ValueError:
            raise AuthError(
                f"google connector: token file {path} lacks the refresh token or client; "
                f"run `{AUTH_COMMAND}` to sign in again"
            ) from None
        if self.token_uri:
            # google-auth ignores a token_uri in the file (always Google's endpoint).
            creds = creds.with_token_uri(str(self.token_uri))
        self._saved_token = creds.token
        return creds

    def for_subject(self, email: str | None) -> Any:
        subject = email.lower() if (self.delegation and email) else None
        with self._lock:
            creds = self._by_subject.get(subject)
            if creds is None:
                base = self._base if self.narrowed else self._wide
                creds = base.with_subject(subject) if subject else base
                if self.cache is not None:
                    key = cache_key(self.client_id, subject, creds.scopes)
                    creds = CachedCredentials(creds, self.cache, key)
                self._by_subject[subject] = creds
            return creds

    def probe(self, scopes: list[str], email: str | None) -> Any:
        """Credentials for `scopes` alone, as `email`, outside the cache: a check asks
        Google whether it grants them, never the file."""
        base = self._base.with_scopes(scopes) if self.kind == "service_account" else self._base
        return base.with_subject(email.lower()) if (self.delegation and email) else base

    def narrow(self, email: str | None, exc: Exception) -> bool:
        """After a refused token request for `email`: when it asked for the attendance
        scopes and Google refused scopes, fall back to the calendar scopes (for every
        organiser) and return True: the caller asks again. Every call the connector
        makes is safe to repeat (reads, and writes keyed by the session), and a
        token refresh fails before its request is sent."""
        subject = email.lower() if (self.delegation and email) else None
        if self.kind != "service_account" or _oauth_code(exc) not in SCOPE_REFUSALS:
            return False
        with self._lock:
            if self.narrowed:
                # Another thread of the I/O pool narrowed meanwhile: ask again with
                # the calendar scopes (a refusal of those is final: not narrowed twice).
                return True
            creds = self._by_subject.get(subject)
            if creds is None or set(creds.scopes or ()) == set(SCOPES):
                return False  # already the calendar scopes alone: a real refusal
            self.narrowed = True
            self._by_subject.clear()
        return True

    def grant_hint(self, scope: str) -> str:
        """How the admin grants `scope` in this mode (for messages). Once the token
        with the attendance scopes was refused, both are named: Google does not say
        which one is missing (`connectors check google` does)."""
        if self.narrowed:
            scope = " and ".join(ATTENDANCE_SCOPES)
        if self.kind == "oauth_user":
            return f"run `{AUTH_COMMAND}` again and allow {scope}"
        return (
            f"grant {scope} to the service account {self.account}'s client id "
            "through domain-wide delegation (Google Admin console > Security > Access and "
            "data control > API controls > Domain-wide delegation)"
        )

    def who(self, email: str | None) -> str:
        if self.delegation and email:
            return f"{email} (impersonated by service account {self.account})"
        if self.kind == "service_account":
            return f"service account {self.account}"
        return f"Google account {self.account} (token file {self.token_file})"

    def auth_error(self, email: str | None, exc: Exception) -> AuthError:
        """The message for a failed token refresh: who, why (Google's error code only)."""
        code = _oauth_code(exc)
        who = self.who(email)
        if self.kind == "oauth_user":
            fix = f"run `{AUTH_COMMAND}` to sign in again"
            what = "the sign-in has expired or was revoked" if code == "invalid_grant" else code
        elif self.delegation and email:
            fix = (
                "check that the user exists and that the service account's client id has "
                "domain-wide delegation for the calendar.events and calendar.freebusy "
                "scopes in the Google Admin console"
            )
            what = f"Google refused the delegated token ({code})"
        else:
            fix = "check the key file (a deleted or disabled key must be replaced)"
            what = f"Google refused the token ({code})"
        return AuthError(f"Google credentials for {who} failed: {what}; {fix}")

    def persist(self) -> None:
        """Write a refreshed user token back to its file (0600), so restarts reuse it."""
        if self.kind != "oauth_user" or self.token_file is None:
            return
        with self._lock:
            token = self._base.token
            if token and token != self._saved_token:
                write_private(self.token_file, self._base.to_json())
                self._saved_token = token


TOKEN_CACHE_WITH_USER = (
    "google connector: token_cache_file keeps a service account's tokens; with "
    "oauth_token_file the signed-in user's token is kept in that file already: "
    "remove token_cache_file"
)


def no_delegation_message(options: Mapping[str, Any], account: str) -> str:
    """Why a service account without delegation cannot work, and the two fixes."""
    where = "service_account_file" if options.get("service_account_file") else "service_account_env"
    return (
        f"google connector: {where} is set (service account {account}) but "
        "`delegation: true` is not: Google refuses invitations sent by a service "
        "account without domain-wide delegation (403 forbiddenForServiceAccounts). "
        "Set `delegation: true` in the connector settings and, in the Google Admin "
        "console (Security > Access and data control > API controls > Domain-wide "
        "delegation), add the service account's client id with the scopes "
        f"{', '.join(SCOPES)}; or use oauth_token_file (`{AUTH_COMMAND}`) instead"
    )


def _oauth_code(exc: Exception) -> str:
    """Google's OAuth error code from a RefreshError, without anything secret."""
    args = getattr(exc, "args", ())
    for arg in args[1:]:
        if isinstance(arg, Mapping) and arg.get("error"):
            return str(arg["error"])
    text = str(args[0]) if args else ""
    for code in (
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "invalid_scope",
        "access_denied",
    ):
        if code in text:
            return code
    return type(exc).__name__


def authorize_installed_app(options: Mapping[str, Any], context: ConnectorContext) -> Path:
    """`coachpass auth google`: sign a user in with the installed-app flow (a browser
    on this machine) and write the token file with mode 0600. Returns its path."""
    try:
        from google_auth_oauthlib.flow import InstalledAppFlow
    except ImportError:
        raise ConnectorUserError(
            "signing in to Google needs the google-auth-oauthlib package: "
            "pip install google-auth-oauthlib"
        ) from None
    secrets_file = options.get("client_secrets_file")
    token_file = options.get("oauth_token_file")
    if not secrets_file or not token_file:
        raise ConnectorUserError(
            "google connector: set client_secrets_file (OAuth client of type Desktop app, "
            "from the Google Cloud console) and oauth_token_file (where to keep the sign-in)"
        )
    secrets_path = resolve_path(context, secrets_file)
    if not secrets_path.is_file():
        raise ConnectorUserError(f"google connector: client_secrets_file {secrets_path} not found")
    flow = InstalledAppFlow.from_client_secrets_file(
        str(secrets_path), scopes=[*SCOPES, *ATTENDANCE_SCOPES]
    )
    creds = flow.run_local_server(port=0, open_browser=True)
    path = resolve_path(context, token_file)
    write_private(path, creds.to_json())
    return path
