"""The option keys each connector reads, so the config can reject a misspelt one.

Connector options are free-form maps in the config (`connectors: google: {...}`); a
misspelt key (`client_secret_enviroment`) would otherwise be ignored and fail only at
run time as "no credentials". The lists live here, beside the connectors and without
importing them (no provider library is loaded to check a config); `scheduler` reads
them. A connector that learns a new option adds it here.

Keys ending in `_env` name an environment variable and keys ending in `_file` a
file; both hold secrets or credentials and are checked offline by
`coachpass config validate` (set / present), never printed.
"""

from __future__ import annotations

#: Options every HTTP-based connector takes for a corporate network: `proxy` (URL of
#: an HTTP(S) proxy) and `ca_bundle` (PEM file of the CAs to trust, e.g. a
#: TLS-inspection CA). Environment variables (HTTPS_PROXY, REQUESTS_CA_BUNDLE) are
#: deliberately ignored: a service must not change its network path when a shell
#: profile changes.
NETWORK = frozenset({"proxy", "ca_bundle"})

#: The size limits a calendar read obeys (`connectors/ics/limits.py`), for the
#: back ends that parse iCalendar text themselves.
LIMITS = frozenset({"max_file_mb", "max_events", "max_occurrences"})

OPTIONS: dict[str, frozenset[str]] = {
    "local": frozenset({"path", "outbox", "organizer_name", "attendance_dir"}) | LIMITS,
    "google": frozenset(
        {
            "service_account_file",
            "service_account_env",
            "delegation",
            "oauth_token_file",
            "client_secrets_file",
            "token_cache_file",
            "api_endpoint",
            "token_uri",
            "guideline_url",
            "page_size",
            "max_attempts",
            "backoff_seconds",
            "timeout_seconds",
            "meet_endpoint",
            "directory_endpoint",
            "attendance_delay_minutes",
            "workers",
        }
    )
    | NETWORK,
    "outlook": frozenset(
        {
            "tenant_id",
            "client_id",
            "client_secret_env",
            "client_secret_file",
            "certificate_file",
            "certificate_thumbprint",
            "token_cache_file",
            "authority_host",
            "graph_endpoint",
            "scope",
            "max_attempts",
            "backoff_seconds",
            "timeout_seconds",
            "online_meeting_provider",
            "sender",
            "attendance_delay_hours",
            "attendance_retention_days",
            "workers",
        }
    )
    | NETWORK,
    "caldav": frozenset(
        {
            "url",
            "username",
            "password_env",
            "password_file",
            "calendar_template",
            "timeout_seconds",
            "max_attempts",
            "concurrency",
            "organizer_name",
        }
    )
    | LIMITS,
}

#: Files that a sign-in command writes: missing means "sign in first", not "typo".
WRITTEN_BY_SIGN_IN = {
    "oauth_token_file": "coachpass auth google",
    "token_cache_file": "coachpass auth outlook",
}

#: Files a connector writes itself when first needed: missing is fine, per connector
#: (the Outlook `token_cache_file` is written by its sign-in, Google's by any run).
WRITTEN_ON_USE = {"google": frozenset({"token_cache_file"})}

#: Files only a sign-in command reads (not needed by the service).
SIGN_IN_ONLY = frozenset({"client_secrets_file"})


def known_options(name: str) -> frozenset[str] | None:
    """The option keys of connector `name`, or None for an unknown connector."""
    return OPTIONS.get(name)
