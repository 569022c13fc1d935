"""Admin entry points of the Outlook connector, wired to the CLI:
`coachpass auth outlook` (device code sign-in) and `coachpass connectors check outlook`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from connectors.base import AuthError, CalendarRef, ConnectorContext, ConnectorUserError
from connectors.outlook.auth import device_code_sign_in
from connectors.outlook.connector import SCHEDULE_LIMIT, OutlookConnector
from connectors.outlook.events import user_path


def authorize_device_code(
    options: Mapping[str, Any],
    context: ConnectorContext,
    echo: Callable[[str], None],
    *,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """`coachpass auth outlook`: device code sign-in; returns the token cache path."""
    timeout = float(options.get("timeout_seconds", 30))
    with httpx.Client(transport=transport, timeout=timeout, trust_env=False) as client:
        return device_code_sign_in(options, context, client, echo)


def check(
    options: Mapping[str, Any],
    context: ConnectorContext,
    calendars: Sequence[CalendarRef],
    *,
    transport: httpx.BaseTransport | None = None,
) -> list[str]:
    """`coachpass connectors check outlook`: credentials, permissions, each mailbox.

    Returns findings, one line each; an empty list means all is well.
    """
    findings: list[str] = []
    try:
        connector = OutlookConnector(options, context, transport=transport)
    except ConnectorUserError as exc:
        return [str(exc)]
    try:
        try:
            connector.tokens.token()
        except AuthError as exc:
            return [str(exc)]
        for ref in calendars:
            box = user_path(ref.calendar_id)
            answer = connector.graph.call("GET", f"{box}/calendar?$select=id,canEdit")
            if not answer.ok:
                findings.append(
                    f"{ref.person_id} ({ref.calendar_id}): calendar not readable: "
                    f"{answer.error_text()}"
                )
                continue
            if answer.body and answer.body.get("canEdit") is False:
                findings.append(f"{ref.person_id} ({ref.calendar_id}): calendar is read-only")
        if calendars:
            now = datetime.now(UTC)
            answer_fb = connector.busy(calendars[:SCHEDULE_LIMIT], now, now + timedelta(days=1))
            findings.extend(
                f"{person}: {message}" for person, message in sorted(answer_fb.errors.items())
            )
    finally:
        connector.close()
    return findings
