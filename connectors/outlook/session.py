"""One Graph session from connector options: HTTP client, tokens, retrying caller.

Shared by the calendar connector and the mailer so both read the same options the
same way (timeouts, endpoint, retries) and renew tokens alike.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.base import ConnectorContext
from connectors.outlook.auth import DEFAULT_GRAPH_ENDPOINT, TokenSource
from connectors.outlook.http import GraphHttp


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
    # trust_env=False: proxy and CA-bundle variables must not redirect a service.
    client = httpx.Client(transport=transport, timeout=timeout, trust_env=False)
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
