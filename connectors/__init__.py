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
    "local": "connectors.ics.connector:open_connector",
    "google": "connectors.google.connector:open_connector",
    "outlook": "connectors.outlook.connector:open_connector",
    "caldav": "connectors.caldav.connector:open_connector",
}

#: name -> "module:function" for `coachpass connectors check NAME`. The check modules
#: import their connector, never the other way round.
CHECKS: dict[str, str] = {
    "google": "connectors.google.check:run_check",
    "outlook": "connectors.outlook.admin:check",
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


def check_function(name: str) -> Any | None:
    """The `connectors check` function of connector NAME, or None if it has none."""
    target = CHECKS.get(name)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
