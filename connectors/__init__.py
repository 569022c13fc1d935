"""Calendar and mail back ends, selected by name in the config.

Modules are imported lazily so that an organisation using only local calendars does
not pay for (or need) the Google or Microsoft client libraries at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from connectors.base import CalendarConnector, ConnectorContext, ConnectorUserError

#: name -> "module:factory". A factory is `factory(options, context) -> CalendarConnector`.
REGISTRY: dict[str, str] = {
    "local": "connectors.local:open_connector",
    "google": "connectors.google:open_connector",
    "outlook": "connectors.outlook:open_connector",
    "caldav": "connectors.caldav:open_connector",
}


def names() -> list[str]:
    return sorted(REGISTRY)


def open_connector(
    name: str, options: Mapping[str, Any], context: ConnectorContext
) -> CalendarConnector:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ConnectorUserError(
            f"unknown connector {name!r}: choose one of {', '.join(names())}"
        ) from None
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    connector: CalendarConnector = factory(options, context)
    return connector
