"""`coachpass connectors check google`: credentials, scopes and calendar access.

Runs against the real service (not part of the tests): it fetches a token for each
identity Coachpass will use, asks free/busy for every configured calendar, and lists
one event of each organiser's calendar with the identity that will write it.
Each finding is one line starting with "ok" or "problem".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from connectors.base import CalendarRef, ConnectorContext, ConnectorError
from connectors.google.auth import SCOPES
from connectors.google.batch import execute
from connectors.google.connector import GoogleConnector
from connectors.google.wire import ApiFailure, chunks


def run_check(
    options: Mapping[str, Any], context: ConnectorContext, calendars: Sequence[CalendarRef]
) -> list[str]:
    lines: list[str] = []
    try:
        connector = GoogleConnector(options, context)
    except ConnectorError as exc:
        return [f"problem: {exc}"]
    creds = connector.credentials
    mode = "with domain-wide delegation" if creds.delegation else "without delegation"
    lines.append(f"ok: {creds.kind.replace('_', ' ')} {creds.account} ({mode})")
    lines.append(f"ok: asking for scopes {', '.join(SCOPES)}")
    now = datetime.now(UTC)
    try:
        for group in chunks(list(calendars), 50):
            try:
                answer = connector.busy(group, now, now + timedelta(days=1))
            except ConnectorError as exc:
                lines.append(f"problem: free/busy: {exc}")
                continue
            for ref in group:
                if ref.person_id in answer.errors:
                    lines.append(f"problem: free/busy: {answer.errors[ref.person_id]}")
                else:
                    lines.append(f"ok: free/busy of {ref.person_id} <{ref.email}>")
        for ref in calendars:
            lines.append(_check_events(connector, ref))
    finally:
        connector.close()
    return lines


def _check_events(connector: Any, ref: CalendarRef) -> str:
    """Reading one event proves the calendar.events grant for the identity that will
    write this calendar (writing a test event would notify people)."""

    def run(http: Any) -> Any:
        query = partial(connector.service.events().list, calendarId=ref.calendar_id, maxResults=1)
        return execute(query, http, connector.backoff)

    try:
        answer = connector._call(ref.email, run)
    except ConnectorError as exc:
        return f"problem: events of {ref.person_id}: {exc}"
    if isinstance(answer, ApiFailure):
        return (
            f"problem: events of {ref.person_id} <{ref.email}> (calendar {ref.calendar_id}) "
            f"as {connector.credentials.who(ref.email)}: {answer.describe()}"
        )
    return f"ok: events of {ref.person_id} <{ref.email}> readable and writable by scope"
