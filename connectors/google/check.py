"""`coachpass connectors check google`: credentials, read and write access, Meet scope.

For every configured calendar it asks free/busy (read). For every organiser (the
calendars sessions are created in) it creates and deletes a probe event as the
identity that will book there (`connectors.checking`): that proves the
`calendar.events` grant in delegation, or, with one signed-in user, write access to
each other manager's calendar, which is what fails in that mode. It also asks for a
token with each attendance scope (Meet records, Directory user ids) as the first
organiser; a missing one is a warning naming it, not a problem (sessions are then
presumed held, never verified), and the other checks go on. Last, where tokens are
kept between commands (`token_cache_file`) and whether that file can be written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from connectors.base import CalendarRef, ConnectorContext, ConnectorError, ConnectorUserError
from connectors.checking import (
    PROBE_SUMMARY,
    PROBE_TAG,
    Finding,
    ok,
    probe_window,
    problem,
    warning,
)
from connectors.google.auth import (
    ATTENDANCE_SCOPES,
    AUTH_COMMAND,
    DIRECTORY_SCOPE,
    MEET_SCOPE,
    SCOPES,
)
from connectors.google.batch import execute
from connectors.google.connector import GoogleConnector
from connectors.google.wire import ApiFailure, chunks

__all__ = ["DIRECTORY_SCOPE", "MEET_SCOPE", "run_check"]


def run_check(
    options: Mapping[str, Any],
    context: ConnectorContext,
    calendars: Sequence[CalendarRef],
    organizers: Sequence[CalendarRef] = (),
    *,
    now: datetime | None = None,
    connector: GoogleConnector | None = None,
) -> list[Finding]:
    try:
        google = connector or GoogleConnector(options, context)
    except ConnectorUserError as exc:
        return [problem(str(exc), config=True)]
    except ConnectorError as exc:
        return [problem(str(exc))]
    creds = google.credentials
    mode = "with domain-wide delegation" if creds.delegation else "without delegation"
    findings = [
        ok(f"{creds.kind.replace('_', ' ')} {creds.account} ({mode})"),
        ok(
            f"asking for scopes {', '.join(SCOPES)}, and for attendance "
            f"{', '.join(ATTENDANCE_SCOPES)}"
        ),
    ]
    when = now or datetime.now(UTC)
    try:
        findings += _free_busy(google, calendars, when)
        for ref in organizers:
            findings.append(_probe(google, ref, when))
        if organizers:
            findings += _attendance_scopes(google, organizers[0])
        findings.append(_token_cache(google))  # after the others: their tokens count
    finally:
        if connector is None:
            google.close()
    return findings


def _token_cache(google: GoogleConnector) -> Finding:
    """Whether tokens outlive each command (`token_cache_file`), and can."""
    creds = google.credentials
    if creds.kind == "oauth_user":
        return ok(f"tokens kept in oauth_token_file {creds.token_file}")
    cache = creds.cache
    if cache is None:
        return ok(
            "no token_cache_file: every command fetches one token per organiser it "
            "touches; set token_cache_file to share each organiser's token between "
            "commands for its hour"
        )
    why = cache.unwritable()
    if why:
        return warning(
            f"token_cache_file: {why}: every command fetches its own tokens; make the "
            "folder writable by the user Coachpass runs as, or change token_cache_file"
        )
    return ok(
        f"token_cache_file {cache.path} (mode 0600): {cache.count()} live tokens, "
        "shared by every command for their hour"
    )


def _free_busy(
    google: GoogleConnector, calendars: Sequence[CalendarRef], now: datetime
) -> list[Finding]:
    findings: list[Finding] = []
    for group in chunks(list(calendars), 50):
        try:
            answer = google.busy(group, now, now + timedelta(days=1))
        except ConnectorError as exc:
            findings.append(problem(f"free/busy: {exc}"))
            continue
        for ref in group:
            if ref.person_id in answer.errors:
                findings.append(problem(f"free/busy: {answer.errors[ref.person_id]}"))
            else:
                findings.append(ok(f"free/busy of {ref.person_id} <{ref.email}>"))
    return findings


def _probe(google: GoogleConnector, ref: CalendarRef, now: datetime) -> Finding:
    """Create and delete a private, attendee-less event as the organiser's identity."""
    start, end = probe_window(now)
    body = {
        "summary": PROBE_SUMMARY,
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": end.isoformat()},
        "visibility": "private",
        "transparency": "transparent",
        "reminders": {"useDefault": False},
        "extendedProperties": {"private": {PROBE_TAG: "1"}},
    }
    events = google.service.events()
    who = google.credentials.who(ref.email)
    where = f"calendar {ref.calendar_id} of {ref.person_id} <{ref.email}>"

    def insert(http: Any) -> Any:
        call = partial(events.insert, calendarId=ref.calendar_id, body=body, sendUpdates="none")
        return execute(call, http, google.backoff)

    try:
        created = google._call(ref.email, insert)
    except ConnectorError as exc:
        return problem(f"write {where}: {exc}")
    if isinstance(created, ApiFailure):
        return problem(
            f"cannot create events in {where} as {who}: {created.describe()}; {_fix(google)}"
        )

    def delete(http: Any) -> Any:
        call = partial(
            events.delete, calendarId=ref.calendar_id, eventId=created["id"], sendUpdates="none"
        )
        return execute(call, http, google.backoff)

    try:
        deleted = google._call(ref.email, delete)
    except ConnectorError as exc:
        deleted = ApiFailure(0, "", str(exc))
    if isinstance(deleted, ApiFailure) and deleted.status not in (404, 410):
        return problem(
            f"created the probe event {created['id']} in {where} but could not delete it "
            f"({deleted.describe()}): delete '{PROBE_SUMMARY}' on {start:%Y-%m-%d} by hand"
        )
    return ok(f"{where}: readable and writable as {who} (probe event created and deleted)")


def _fix(google: GoogleConnector) -> str:
    if google.credentials.kind == "oauth_user":
        return (
            "share that calendar with the signed-in user with 'Make changes to events', "
            f"or use a service account with domain-wide delegation (`{AUTH_COMMAND}` "
            "signs in one user only)"
        )
    return (
        "grant the service account's client id the scope "
        f"{SCOPES[0]} in the Admin console's domain-wide delegation"
    )


def _attendance_scopes(google: GoogleConnector, ref: CalendarRef) -> list[Finding]:
    """Meet attendance needs `meetings.space.readonly` (the calls) and
    `admin.directory.user.readonly` (people's user ids). Each is asked for on its own,
    as the organiser, so the finding names exactly the one to grant. Missing ones are
    warnings: sessions are then presumed held, never verified."""
    import google_auth_httplib2
    from google.auth import exceptions as auth_exceptions

    creds = google.credentials
    uses = {
        MEET_SCOPE: "who was in each session's Meet call",
        DIRECTORY_SCOPE: "each person's Google user id, to recognise them in the call",
    }
    findings: list[Finding] = []
    for scope, why in uses.items():
        granted = ok(f"Meet attendance: scope {scope} granted ({why})")
        missing = (
            f"Meet attendance: no {scope} ({why}) for {creds.who(ref.email)}, so Meet "
            "sessions are presumed held, never verified; "
        )
        if creds.kind == "oauth_user":
            have = set(getattr(creds.for_subject(None), "scopes", None) or ())
            findings.append(
                granted
                if scope in have
                else warning(missing + f"run `{AUTH_COMMAND}` again and allow {scope}")
            )
            continue
        probe = creds.probe([scope], ref.email)
        try:
            probe.refresh(google_auth_httplib2.Request(google._transport))
        except auth_exceptions.RefreshError:
            fix = (
                f"add {scope} to the service account's client id (Google Admin console > "
                "Security > Access and data control > API controls > Domain-wide delegation)"
            )
            findings.append(warning(missing + fix))
        except auth_exceptions.TransportError as exc:
            findings.append(
                warning(f"Meet attendance: token endpoint unreachable ({type(exc).__name__})")
            )
            break
        else:
            findings.append(granted)
    return findings
