"""Admin entry points of the Outlook connector, wired to the CLI:
`coachpass auth outlook` (device code sign-in) and `coachpass connectors check outlook`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base import (
    AuthError,
    CalendarRef,
    ConnectorContext,
    ConnectorError,
    ConnectorUserError,
    TransientError,
)
from connectors.checking import PROBE_SUMMARY, Finding, ok, probe_window, problem, warning
from connectors.outlook.auth import device_code_sign_in
from connectors.outlook.check_meetings import attendance_granted, granted_findings, policy_findings
from connectors.outlook.connector import SCHEDULE_LIMIT, OutlookConnector
from connectors.outlook.events import graph_time, user_path
from connectors.outlook.meetings import ARTIFACT_PERMISSION, LOOKUP_PERMISSION
from connectors.outlook.session import http_client

#: Application permission that lets Coachpass read Teams attendance reports.
ATTENDANCE_PERMISSION = ARTIFACT_PERMISSION


def authorize_device_code(
    options: Mapping[str, Any],
    context: ConnectorContext,
    echo: Callable[[str], None],
    *,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """`coachpass auth outlook`: device code sign-in; returns the token cache path."""
    timeout = float(options.get("timeout_seconds", 30))
    with http_client(options, context, transport=transport, timeout=timeout) as client:
        return device_code_sign_in(options, context, client, echo)


def check(
    options: Mapping[str, Any],
    context: ConnectorContext,
    calendars: Sequence[CalendarRef],
    organizers: Sequence[CalendarRef] = (),
    *,
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """`coachpass connectors check outlook`: sign-in, permissions, read and write.

    Free/busy of every calendar (read); in every organiser's mailbox a probe event is
    created and deleted (write: `Calendars.ReadWrite`, and the mailbox inside the
    app's RBAC scope); the token's application permissions are read for
    `OnlineMeetingArtifact.Read.All` and `OnlineMeetings.Read.All` (Teams attendance),
    and each organiser's application access policy is proven on one of their Teams
    meetings (check_meetings; warnings when missing).
    """
    try:
        connector = OutlookConnector(options, context, transport=transport)
    except (AuthError, TransientError) as exc:  # the sign-in service, not the settings
        return [problem(str(exc))]
    except ConnectorUserError as exc:
        return [problem(str(exc), config=True)]
    who = connector.tokens.who
    try:
        try:
            token = connector.tokens.token()
        except (AuthError, TransientError) as exc:
            return [problem(str(exc))]
        findings = [ok(f"signed in ({who}, scope {connector.tokens.scope})")]
        granted = _granted(token, connector.tokens.delegated)
        findings += _permissions(granted)
        when = now or datetime.now(UTC)
        for group in range(0, len(calendars), SCHEDULE_LIMIT):
            refs = calendars[group : group + SCHEDULE_LIMIT]
            answer = connector.busy(refs, when, when + timedelta(days=1))
            for ref in refs:
                # The calendar itself too: a mailbox outside the app's RBAC scope may
                # still show free/busy through another mailbox, but cannot be booked.
                own = connector.graph.call(
                    "GET", f"{user_path(ref.calendar_id)}/calendar?$select=id"
                )
                if not own.ok:
                    findings.append(
                        problem(
                            f"{ref.person_id} ({ref.calendar_id}): calendar not readable: "
                            f"{own.error_text()}"
                        )
                    )
                elif ref.person_id in answer.errors:
                    findings.append(problem(f"free/busy: {answer.errors[ref.person_id]}"))
                else:
                    findings.append(ok(f"free/busy of {ref.person_id} <{ref.email}>"))
        findings += [_probe(connector, ref, when) for ref in organizers]
        if granted is None or attendance_granted(granted):
            # Without the permissions every policy check would only repeat that.
            findings += policy_findings(connector, organizers, when)
    except ConnectorError as exc:
        findings.append(problem(str(exc)))
    finally:
        connector.close()
    return findings


def _claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT access token, or None when the token is opaque. Only read
    to tell the admin which permissions were consented; never validated or trusted."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _granted(token: str, delegated: bool) -> set[str] | None:
    """The token's permissions (scopes when delegated), None when it is opaque."""
    claims = _claims(token)
    if claims is None:
        return None
    if delegated:
        return set(str(claims.get("scp", "")).split())
    return {str(r) for r in claims.get("roles", []) or []}


def _permissions(granted: set[str] | None) -> list[Finding]:
    if granted is None:
        return [
            warning(
                "cannot read the token's permissions (opaque token): check "
                f"{ATTENDANCE_PERMISSION} and {LOOKUP_PERMISSION} in the app registration "
                "by hand"
            )
        ]
    return granted_findings(granted)


def _probe(connector: OutlookConnector, ref: CalendarRef, now: datetime) -> Finding:
    """Create and delete a private, attendee-less, free event in the organiser's mailbox."""
    start, end = probe_window(now)
    box = user_path(ref.calendar_id)
    where = f"mailbox {ref.calendar_id} of {ref.person_id}"
    body = {
        "subject": PROBE_SUMMARY,
        "start": graph_time(start),
        "end": graph_time(end),
        "sensitivity": "private",
        "showAs": "free",
        "isReminderOn": False,
        "attendees": [],
    }
    # Not retried blindly: a lost answer could mean a probe nobody deletes.
    created = connector.graph.call("POST", f"{box}/events", body, idempotent=False)
    if not created.ok or not created.body or not created.body.get("id"):
        hint = (
            "grant the app the application permission Calendars.ReadWrite with admin "
            "consent, and include the mailbox in its RBAC scope (README: outlook)"
        )
        return problem(f"cannot create events in {where}: {created.error_text()}; {hint}")
    event_id = str(created.body["id"])
    deleted = connector.graph.call("DELETE", f"{box}/events/{quote(event_id, safe='')}")
    if not deleted.ok and deleted.status != 404:
        return problem(
            f"created the probe event in {where} but could not delete it "
            f"({deleted.error_text()}): delete '{PROBE_SUMMARY}' on {start:%Y-%m-%d} by hand"
        )
    return ok(f"{where}: readable and writable (probe event created and deleted)")
