"""Google Calendar connector (Calendar API v3 through google-api-python-client).

Options (the `google` connector's settings in the config):

- `service_account_file`: path to a service account JSON key (or `service_account_env`:
  an environment variable holding the JSON). Secrets come only from files/env.
- `delegation` (bool, default false): with a service account, impersonate each
  organiser (`with_subject`) through domain-wide delegation. The normal set-up for
  a whole organisation, and required with a service account: Google refuses
  invitations from a service account acting as itself (forbiddenForServiceAccounts).
- `oauth_token_file`: the user sign-in written by `coachpass auth google` (mode 0600),
  for a small team without a service account; refreshed tokens are written back.
- `client_secrets_file`: the OAuth client ("Desktop app") used by `coachpass auth google`.
- `token_cache_file` (default: none, tokens live in memory): with a service account,
  a file (mode 0600, made on first use) where each organiser's access token is kept
  for its hour and shared by every command and process (see token_cache.py).
- `api_endpoint` (default https://www.googleapis.com/): API root; the batch URI is
  built from it too (`<root>batch/calendar/v3`).
- `token_uri`: override the OAuth token endpoint (tests, proxies).
- `guideline_url`: link to the written coaching guidelines (a Drive file link is
  also attached to the event); always linked in the description.
- `page_size` (default 250): events per page when reading changes.
- `max_attempts` (default 6), `backoff_seconds` (default 1.0): retries of throttled
  or failed calls, exponential with jitter, never sooner than `Retry-After`.
- `timeout_seconds` (default 60): socket timeout of each HTTP request.
- `meet_endpoint` (default https://meet.googleapis.com/) and `directory_endpoint`
  (default https://admin.googleapis.com/): roots of the Meet REST API and the Admin
  SDK Directory, read for attendance (see attendance.py).
- `attendance_delay_minutes` (default 60): how long after a session's end Meet may
  still be writing its records; until then "no call yet" is pending, not "not held".
- `proxy` (e.g. http://proxy.example:3128) and `ca_bundle` (a PEM file of CAs to
  trust, e.g. a TLS-inspection CA): without them no proxy is used and the system
  CAs are trusted; proxy environment variables are ignored (see `auth.http_transport`).

One connector object may be shared between threads: each thread gets its own
httplib2 connection pool (httplib2 is not thread-safe), the credentials are shared.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import google_auth_httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.discovery import build

from connectors.base import (
    Attendance,
    AttendanceAnswer,
    AuthError,
    Busy,
    CalendarRef,
    ChangeAction,
    ChangeSet,
    ConnectorContext,
    EventChange,
    FreeBusy,
    Lookup,
    MeetingQuery,
    NewEvent,
    Outcome,
    Result,
    TransientError,
    in_order,
)
from connectors.google.attendance import MeetReader, MeetResources, ScopeRefused, Unanswered
from connectors.google.auth import ATTENDANCE_SCOPES, CredentialSource, http_transport
from connectors.google.batch import Backoff, run_batch
from connectors.google.busy import FreeBusyReader
from connectors.google.changes import ChangeReader
from connectors.google.lookup import KeyLookup
from connectors.google.meet import MeetSettler
from connectors.google.wire import (
    FREEBUSY_MAX_CALENDARS,
    FREEBUSY_MAX_DAYS,
    ApiFailure,
    chunks,
    event_body,
    move_body,
    tag_of,
    valid_event_id,
    windows,
)

__all__ = ["GoogleConnector", "open_connector"]

DEFAULT_ENDPOINT = "https://www.googleapis.com/"
MEET_ENDPOINT = "https://meet.googleapis.com/"
DIRECTORY_ENDPOINT = "https://admin.googleapis.com/"

log = logging.getLogger(__name__)


class GoogleConnector:
    name = "google"
    # Makes Meet links itself: booking renders the agenda with the link mark.
    native_meetings = True

    def __init__(
        self,
        options: Mapping[str, Any],
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        # "now" for attendance: is a session pending, or expired?
        self.clock = clock or context.clock or (lambda: datetime.now(UTC))
        root = str(options.get("api_endpoint") or DEFAULT_ENDPOINT)
        root = root if root.endswith("/") else root + "/"
        self.batch_uri = root + "batch/calendar/v3"
        self.guideline_url: str | None = options.get("guideline_url")
        self.page_size = int(options.get("page_size", 250))
        self.backoff = Backoff(
            max_attempts=int(options.get("max_attempts", 6)),
            base_seconds=float(options.get("backoff_seconds", 1.0)),
            sleep=sleep,
        )
        self.credentials = CredentialSource(options, context)
        # One plain connection pool for every identity: AuthorizedHttp only adds the
        # header, so 700 organisers do not mean 700 open connections. httplib2 is not
        # thread-safe: a thread of booking's I/O pool gets a pool of its own (the
        # credentials, and so the tokens, are shared by all).
        self._options, self._context = options, context
        self._transport = http_transport(options, context)
        # Per thread, in thread-local storage: a pool thread's transport goes with
        # the thread (a long-running service starts new pools every run); the weak
        # set lets close() reach the ones still alive.
        self._owner = threading.get_ident()
        self._mine: tuple[Any, dict[tuple[int, str | None], Any]] = (self._transport, {})
        # Bumped when the credentials change (the attendance scopes were refused):
        # every thread's authorised clients of an older generation are left behind.
        self._generation = 0
        self._local = threading.local()
        self._others: weakref.WeakSet[Any] = weakref.WeakSet()
        self._threads_lock = threading.Lock()
        self._events_resource: Any = None
        self._freebusy_resource: Any = None
        self._meet: MeetResources | None = None
        self._endpoints = (
            _root(options.get("meet_endpoint") or MEET_ENDPOINT),
            _root(options.get("directory_endpoint") or DIRECTORY_ENDPOINT),
        )
        self.attendance_delay = timedelta(
            minutes=float(options.get("attendance_delay_minutes", 60))
        )
        # e-mail -> Google user id (None: not in the directory), for the connector's life.
        self.user_ids: dict[str, str | None] = {}
        # The discovery document shipped in the package: no network call to build.
        self.service = build(
            "calendar",
            "v3",
            http=self._transport,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": root + "calendar/v3/"},
        )

    # -- plumbing ---------------------------------------------------------------------

    def _subject(self, email: str | None) -> str | None:
        return email.lower() if (self.credentials.delegation and email) else None

    def _http(self, email: str | None) -> Any:
        subject = self._subject(email)
        mine = self._mine if threading.get_ident() == self._owner else None
        mine = mine or getattr(self._local, "http", None)
        if mine is None:
            mine = (http_transport(self._options, self._context), {})
            self._local.http = mine
            with self._threads_lock:
                self._others.add(mine[0])
        transport, authorized = mine
        key = (self._generation, subject)
        http = authorized.get(key)
        if http is None:
            for old in [k for k in authorized if k[0] != self._generation]:
                del authorized[old]  # clients of credentials since replaced
            creds = self.credentials.for_subject(subject)
            http = google_auth_httplib2.AuthorizedHttp(creds, http=transport)
            authorized[key] = http
        return http

    def _call(self, email: str | None, run: Callable[[Any], Any]) -> Any:
        """Run `run(http)` as `email`, turning credential failures into user errors."""
        try:
            try:
                return run(self._http(email))
            except auth_exceptions.RefreshError as exc:
                if not self.credentials.narrow(email, exc):
                    raise
                # The token with the attendance scopes was refused: go on with the
                # calendar scopes alone (said once: the switch is for every organiser).
                log.warning(
                    "google: no token with %s for %s; booking goes on, Meet attendance "
                    "is not read (see `coachpass connectors check google`)",
                    " and ".join(ATTENDANCE_SCOPES),
                    self.credentials.who(email),
                )
                self._generation += 1
                return run(self._http(email))
        except auth_exceptions.RefreshError as exc:
            raise self.credentials.auth_error(self._subject(email), exc) from None
        except auth_exceptions.TransportError as exc:
            raise TransientError(
                f"cannot reach Google's token endpoint for {self.credentials.who(email)}: "
                f"{type(exc).__name__}"
            ) from None
        finally:
            self.credentials.persist()

    def _per_organiser(
        self, organizer: CalendarRef, group: Sequence[Any], run: Callable[[Any], Any]
    ) -> dict[str, Result]:
        """Run one organiser's writes. With delegation each organiser has their own
        identity, so one refused impersonation fails that organiser's sessions (with
        the message saying how to fix it) and the others go ahead; with one identity
        for everybody the AuthError stops the call, since nothing could succeed."""
        try:
            answer: dict[str, Result] = self._call(organizer.email, run)
            return answer
        except AuthError as exc:
            if not self.credentials.delegation:
                raise
            return {i.key: Result(i.key, Outcome.FAILED, error=str(exc)) for i in group}
        except TransientError as exc:
            return {
                i.key: Result(i.key, Outcome.FAILED, error=str(exc), retryable=True) for i in group
            }

    def _events(self) -> Any:
        # Building a resource renders docstrings for every method: do it once.
        if self._events_resource is None:
            self._events_resource = self.service.events()
        return self._events_resource

    # -- busy -------------------------------------------------------------------------

    def busy(self, calendars: Sequence[CalendarRef], start: datetime, end: datetime) -> FreeBusy:
        intervals: dict[str, list[Busy]] = {c.person_id: [] for c in calendars}
        errors: dict[str, str] = {}
        # With delegation the first calendar's owner (the organiser) asks for all.
        asker = calendars[0].email if calendars else None
        if self._freebusy_resource is None:
            self._freebusy_resource = self.service.freebusy()
        reader = FreeBusyReader(self._freebusy_resource, self.backoff, self.credentials.who(asker))
        for low, high in windows(start, end, FREEBUSY_MAX_DAYS):
            for group in chunks(list(calendars), FREEBUSY_MAX_CALENDARS):
                found, failed = self._call(asker, partial(reader.read, group, low, high))
                errors.update(failed)
                for person, spans in found.items():
                    intervals[person].extend(spans)
        return FreeBusy(
            intervals={p: tuple(v) for p, v in intervals.items() if p not in errors},
            errors=errors,
        )

    # -- create -----------------------------------------------------------------------

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        results: dict[str, Result] = {}
        for organizer, group in _by_organizer(events):
            results.update(self._per_organiser(organizer, group, partial(self._create, group)))
        return in_order([e.key for e in events], results)

    def _create(self, events: Sequence[NewEvent], http: Any) -> dict[str, Result]:
        results: dict[str, Result] = {}
        requests: dict[str, Callable[[], Any]] = {}
        by_id: dict[str, NewEvent] = {}
        for event in events:
            if not valid_event_id(event.key):
                results[event.key] = Result(
                    event.key,
                    Outcome.FAILED,
                    error=f"session key {event.key!r} is not a valid Google event id",
                )
                continue
            if event.key in by_id:
                continue  # the same session twice in one call: one insert answers both
            by_id[event.key] = event
            body = event_body(event, self.guideline_url)
            requests[event.key] = partial(
                self._events().insert,
                calendarId=event.organizer.calendar_id,
                body=body,
                sendUpdates="all",
                conferenceDataVersion=1,
                supportsAttachments=True,
            )
        outcomes = run_batch(requests, http, self.batch_uri, self.backoff)
        duplicates: list[NewEvent] = []
        made: dict[str, tuple[Outcome, Any]] = {}
        for key, outcome in outcomes.items():
            event = by_id[key]
            if isinstance(outcome, ApiFailure):
                if outcome.status == 409:
                    duplicates.append(event)
                else:
                    results[key] = _failed(event.key, event.organizer, "create", outcome)
            else:
                made[key] = (Outcome.CREATED, outcome)
        if duplicates:
            failed, adopted = self._adopt(duplicates, http)
            results.update(failed)
            made.update({k: (Outcome.EXISTED, item) for k, item in adopted.items()})
        # The invite must carry the link we report: Meet's, or the fallback patched in.
        settler = MeetSettler(self._events(), self.batch_uri, self.backoff, self.guideline_url)
        links = settler.settle({k: (by_id[k], item) for k, (_o, item) in made.items()}, http)
        for key, (done, item) in made.items():
            link = links[key]
            if link.pending:
                # Not booked until its link settles: the next run adopts and reads it.
                results[key] = Result(
                    key, Outcome.FAILED, str(item["id"]), error=link.error, retryable=True
                )
                continue
            results[key] = Result(key, done, str(item["id"]), link.url, error=link.error)
        return results

    def _adopt(
        self, events: Sequence[NewEvent], http: Any
    ) -> tuple[dict[str, Result], dict[str, Any]]:
        """409 duplicate: the id exists, maybe cancelled. Fetch it and adopt it as it
        stands when it carries our tag. A cancelled one is not restored: that would
        undo the organiser's cancellation; reconcile sees it and books a new attempt
        (the local connector does the same). Returns failures, and the adopted
        events as Google answered them."""
        fetch = {
            e.key: partial(self._events().get, calendarId=e.organizer.calendar_id, eventId=e.key)
            for e in events
        }
        results: dict[str, Result] = {}
        adopted: dict[str, Any] = {}
        by_key = {e.key: e for e in events}
        for key, item in run_batch(fetch, http, self.batch_uri, self.backoff).items():
            event = by_key[key]
            if isinstance(item, ApiFailure):
                results[key] = _failed(key, event.organizer, "read back", item)
            elif tag_of(item) != key:
                results[key] = Result(
                    key,
                    Outcome.FAILED,
                    error=(
                        f"event id {key} in the calendar of {event.organizer.email} belongs to "
                        "an event Coachpass did not create"
                    ),
                )
            else:
                adopted[key] = item
        return results, adopted

    # -- update -----------------------------------------------------------------------

    def update(self, changes: Sequence[EventChange]) -> list[Result]:
        results: dict[str, Result] = {}
        for organizer, group in _by_organizer(changes):
            results.update(self._per_organiser(organizer, group, partial(self._update, group)))
        return in_order([c.key for c in changes], results)

    def _update(self, changes: Sequence[EventChange], http: Any) -> dict[str, Result]:
        requests: dict[str, Callable[[], Any]] = {}
        by_key = {c.key: c for c in changes}
        for change in by_key.values():
            event_id = change.event_id or change.key
            calendar = change.organizer.calendar_id
            if change.action is ChangeAction.MOVE:
                assert change.start is not None and change.end is not None
                body = move_body(change.start, change.end, change.organizer.timezone)
                requests[change.key] = partial(
                    self._events().patch,
                    calendarId=calendar,
                    eventId=event_id,
                    body=body,
                    sendUpdates="all",
                )
            else:
                requests[change.key] = partial(
                    self._events().delete, calendarId=calendar, eventId=event_id, sendUpdates="all"
                )
        results: dict[str, Result] = {}
        for key, outcome in run_batch(requests, http, self.batch_uri, self.backoff).items():
            change = by_key[key]
            event_id = change.event_id or change.key
            cancel = change.action is ChangeAction.CANCEL
            if not isinstance(outcome, ApiFailure):
                if not cancel and outcome.get("status") == "cancelled":
                    results[key] = Result(
                        key,
                        Outcome.FAILED,
                        event_id,
                        error=(
                            f"session {key} is cancelled in the calendar of "
                            f"{change.organizer.email}; book a new attempt"
                        ),
                    )
                    continue
                done = Outcome.CANCELLED if cancel else Outcome.UPDATED
                results[key] = Result(key, done, event_id)
            elif cancel and outcome.status in (404, 410):
                results[key] = Result(key, Outcome.GONE, event_id)
            else:
                results[key] = _failed(
                    key, change.organizer, "cancel" if cancel else "move", outcome
                )
        return results

    # -- changes ----------------------------------------------------------------------

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        reader = ChangeReader(self._events(), self.batch_uri, self.backoff, self.page_size)
        answer: ChangeSet = self._call(
            organizer.email, partial(reader.read, organizer, cursor, start, end)
        )
        return answer

    # -- attendance -------------------------------------------------------------------

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        """Meet attendance per session, read as each organiser (see attendance.py).
        One session's failure is an error for it alone; a refused token for one
        organiser fails that organiser's sessions, never the others'."""
        reader = MeetReader(
            self._meet_api(),
            self.backoff,
            self.clock(),
            self.attendance_delay,
            self.credentials.who,
            self.credentials.grant_hint,
            self.user_ids,
        )
        results: dict[str, Attendance] = {}
        errors: dict[str, str] = {}

        def run(group: Sequence[MeetingQuery], http: Any) -> None:
            refused = ""  # the token may not read Meet: the rest are not asked
            for query in group:
                if refused:
                    errors[query.key] = refused
                    continue
                try:
                    results[query.key] = reader.read(query, http)
                except ScopeRefused as exc:
                    errors[query.key] = refused = str(exc)
                except Unanswered as exc:
                    errors[query.key] = str(exc)

        for organizer, group in _by_organizer(queries):
            try:
                self._call(organizer.email, partial(run, group))
            except (AuthError, TransientError) as exc:
                for query in group:
                    if query.key not in results:
                        errors.setdefault(query.key, str(exc))
        return AttendanceAnswer(results, errors)

    def _meet_api(self) -> MeetResources:
        if self._meet is None:  # built on first use: most runs read no attendance
            self._meet = MeetResources.build(self._transport, *self._endpoints, self._events())
        return self._meet

    def lookup(self, organizer: CalendarRef, keys: Sequence[str]) -> Lookup:
        """By key, which is the event id: one batch of `events.get` (see lookup.py).
        A refused impersonation or an unreachable token endpoint is an error for
        every key, never "gone"."""
        reader = KeyLookup(self._events(), self.batch_uri, self.backoff)
        try:
            answer: Lookup = self._call(organizer.email, partial(reader.lookup, organizer, keys))
        except (AuthError, TransientError) as exc:
            return Lookup({}, {key: str(exc) for key in keys})
        return answer

    def close(self) -> None:
        self.credentials.persist()
        with self._threads_lock:
            transports = [self._transport, *self._others]
        for transport in transports:
            for conn in list(transport.connections.values()):
                conn.close()
            transport.connections.clear()


def _root(url: Any) -> str:
    text = str(url)
    return text if text.endswith("/") else text + "/"


def _by_organizer(items: Sequence[Any]) -> list[tuple[CalendarRef, list[Any]]]:
    groups: dict[str, tuple[CalendarRef, list[Any]]] = {}
    for item in items:
        ref = item.organizer
        groups.setdefault(ref.calendar_id.lower(), (ref, []))[1].append(item)
    return list(groups.values())


def _failed(key: str, organizer: CalendarRef, what: str, failure: ApiFailure) -> Result:
    return Result(
        key,
        Outcome.FAILED,
        error=(
            f"Google could not {what} session {key} in the calendar of {organizer.person_id} "
            f"<{organizer.email}>: {failure.describe()}"
        ),
        retryable=failure.retryable,
    )


def open_connector(options: Mapping[str, Any], context: ConnectorContext) -> GoogleConnector:
    return GoogleConnector(options, context)
