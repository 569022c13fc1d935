"""One Graph session from connector options: HTTP client, tokens, retrying caller.

Shared by the calendar connector and the mailer so both read the same options the
same way (timeouts, endpoint, retries) and renew tokens alike.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from connectors.base import ConnectorContext, ConnectorUserError
from connectors.outlook.auth import DEFAULT_GRAPH_ENDPOINT, TokenSource
from connectors.outlook.http import GraphHttp


def http_client(
    options: Mapping[str, Any],
    context: ConnectorContext,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 30.0,
) -> httpx.Client:
    """The one HTTP client of a Graph session (sign-in and Graph alike).

    trust_env=False: HTTPS_PROXY, SSL_CERT_FILE and the like must not redirect or
    re-trust a service behind its admin's back (and `requests`-style variables such as
    REQUESTS_CA_BUNDLE would override an explicit `verify`). The network path is what
    the config says: `proxy` (an HTTP(S) proxy URL) and `ca_bundle` (a PEM file of
    CAs to trust, e.g. a TLS-inspection CA; default: the system's CAs via certifi)."""
    verify: str | bool = True
    if options.get("ca_bundle"):
        bundle = Path(str(options["ca_bundle"])).expanduser()
        bundle = bundle if bundle.is_absolute() else context.base_dir / bundle
        if not bundle.is_file():
            raise ConnectorUserError(f"outlook connector: ca_bundle {bundle} does not exist")
        verify = str(bundle)
    proxy = str(options["proxy"]) if options.get("proxy") else None
    try:
        return httpx.Client(
            transport=transport, timeout=timeout, trust_env=False, proxy=proxy, verify=verify
        )
    except (ValueError, httpx.InvalidURL, OSError) as exc:
        raise ConnectorUserError(
            f"outlook connector: proxy or ca_bundle unusable ({type(exc).__name__}): write "
            "proxy as http://proxy.example:3128 and ca_bundle as a PEM file"
        ) from None


@dataclass(frozen=True)
class GraphSession:
    client: httpx.Client
    tokens: TokenSource
    graph: GraphHttp

    def close(self) -> None:
        self.client.close()


def open_graph_session(
    options: Mapping[str, Any],
    context: ConnectorContext,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> GraphSession:
    timeout = float(options.get("timeout_seconds", 30))
    client = http_client(options, context, transport=transport, timeout=timeout)
    tokens = TokenSource(options, context, client)
    graph = GraphHttp(
        client,
        str(options.get("graph_endpoint") or DEFAULT_GRAPH_ENDPOINT),
        tokens.token,
        max_attempts=int(options.get("max_attempts", 6)),
        backoff_seconds=float(options.get("backoff_seconds", 1.0)),
        sleep=sleep,
        rng=rng,
        renew=tokens.renew,
    )
    return GraphSession(client, tokens, graph)
