"""The `caldav` connector: calendars on a CalDAV server (RFC 4791), e.g. Radicale,
Nextcloud, SOGo, Baïkal, iCloud, Fastmail.

Options (config `connectors: caldav:`):
- `url`: the server root or the calendar home, e.g. `https://dav.example.com/`;
- `username`, and the password from `password_env` or `password_file` (never inline);
- `timeout_seconds` (default 30), `max_attempts` (default 5), `concurrency` (parallel
  busy reads, default 4), `organizer_name` (display name on the ORGANIZER line);
- `max_file_mb`, `max_events`, `max_occurrences`: per-calendar limits, as for the
  `local` connector (`ics.limits`); events are checked the same way (`ics.read`);
- `calendar_template`: the calendar of a person whose `calendar_id` is a bare name or
  e-mail (no `/`), from `{id}`, `{email}` and `{user}` (the part before `@`), e.g.
  `{user}/calendar/` (Radicale), `remote.php/dav/calendars/{user}/personal/`
  (Nextcloud), `SOGo/dav/{email}/Calendar/personal/` (SOGo).

A person's `CalendarRef.calendar_id` is the calendar collection's path relative to
`url` (`manager/calendar/`) or an absolute URL on the same server (credentials are
never sent to another host).

Invitations: a session is written *only* into the organiser's calendar, with ATTENDEE
lines. Servers that implement CalDAV scheduling (RFC 6638: Nextcloud, SOGo, iCloud,
Fastmail...) deliver the iTIP REQUEST/CANCEL to the attendees themselves on that PUT;
writing copies into attendees' calendars as well would make two events for them.
Servers without scheduling (Radicale) store the event and send nothing: attendees
then need the invitation by other means (their own calendar subscription, e-mail).

Identity: the event lives at `<calendar>/<key>.ics`; `PUT` with `If-None-Match: *`
makes creation idempotent (412 = the key exists, even cancelled: adopted, EXISTED).
The event id handed out is the resource's path on the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from connectors.base import (
    AttendanceAnswer,
    Busy,
    CalendarRef,
    ChangeAction,
    ChangeSet,
    ConnectorContext,
    ConnectorUserError,
    EventChange,
    EventState,
    FreeBusy,
    Lookup,
    MeetingQuery,
    NewEvent,
    Outcome,
    Result,
    TransientError,
    in_order,
    no_attendance,
    resolve_secret,
)
from connectors.caldav.changes import read_changes
from connectors.caldav.http import DavHttp
from connectors.caldav.items import (
    BadCalendarRef,
    CalendarMissing,
    DavFailed,
    Stored,
    same_stamp,
)
from connectors.caldav.protocol import (
    calendar_query,
    error_conditions,
    href_path,
)
from connectors.caldav.server import DavServer
from connectors.ics import events as ics_events
from connectors.ics.defects import CalendarDefect
from connectors.ics.files import append_vevent, empty_calendar
from connectors.ics.limits import DEFAULT_LIMITS, Limits, limits_from_options
from connectors.ics.read import BusyRead, read_busy
from connectors.ics.scan import scan, too_big

log = logging.getLogger(__name__)

#: Floating and all-day events can sit up to 14 h off UTC: the server's time-range
#: filter reads them in its own zone, so ask wider and clip exactly ourselves.
QUERY_MARGIN = timedelta(days=2)
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}


class CaldavConnector:
    """`CalendarConnector` over a CalDAV server (see the module docstring)."""

    name = "caldav"

    def __init__(
        self,
        url: str,
        http: DavHttp,
        *,
        organizer_name: str = "",
        concurrency: int = 4,
        calendar_template: str = "",
        clock: Callable[[], datetime] | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.server = DavServer(url, http, calendar_template)
        self.limits = limits
        self.http = http
        self.organizer_name = organizer_name
        self.concurrency = max(1, concurrency)
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- busy -----------------------------------------------------------------------

    def busy(self, calendars: Sequence[CalendarRef], start: datetime, end: datetime) -> FreeBusy:
        intervals: dict[str, tuple[Busy, ...]] = {}
        errors: dict[str, str] = {}
        warnings: dict[str, tuple[str, ...]] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(lambda ref: self._busy_of(ref, start, end), calendars))
        for ref, answer in zip(calendars, answers, strict=True):
            if isinstance(answer, str):
                errors[ref.person_id] = f"calendar of {_who(ref)}: {answer}"
                continue
            intervals[ref.person_id] = answer.intervals
            if answer.warnings:
                warnings[ref.person_id] = answer.warnings
        return FreeBusy(intervals=intervals, errors=errors, warnings=warnings)

    def _busy_of(self, ref: CalendarRef, start: datetime, end: datetime) -> BusyRead | str:
        """The calendar's busy time, or why it cannot be read (never a partial answer:
        a resource that cannot be read would look free). Resources are read with the
        local connector's checks and limits (`ics.read`)."""
        try:
            zone = _zone(ref)
            calendar = self.server.calendar_url(ref)
            body = calendar_query(start - QUERY_MARGIN, end + QUERY_MARGIN)
            items = self.server.query(calendar, body)
        except CalendarMissing as exc:
            return (
                f"{exc} (check `calendar:` of that person in the config and the account's rights)"
            )
        except (BadCalendarRef, DavFailed) as exc:
            return str(exc)
        hint = "options of the caldav connector"
        try:
            files = []
            for path, _etag, data in items:
                raw = data.encode("utf-8")
                if len(raw) > self.limits.max_bytes:
                    size = too_big(len(raw), self.limits.max_file_mb, f"max_file_mb, {hint}")
                    raise CalendarDefect(f"{path} is {size}")
                files.append(scan(path, raw))
            return read_busy(
                str(ref.calendar_id), files, ref.email, zone, start, end, self.limits, hint
            )
        except CalendarDefect as exc:
            return str(exc)
        except Exception as exc:  # a bug, but one calendar must not stop everyone's plan
            log.warning("reading %s failed", ref.calendar_id, exc_info=True)
            return f"cannot read {ref.calendar_id} (an unexpected {type(exc).__name__})"

    # --- create -----------------------------------------------------------------------

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        results: dict[str, Result] = {}
        for event in events:
            if event.key not in results:  # the same key twice in a batch: one event
                results[event.key] = self._create_one(event)
        return in_order([e.key for e in events], results)

    def _create_one(self, event: NewEvent) -> Result:
        who = _who(event.organizer)
        try:
            calendar = self.server.calendar_url(event.organizer)
        except BadCalendarRef as exc:
            return self._failed(event.key, f"calendar of {who}: {exc}")
        url = self.server.member_url(calendar, event.key)
        vevent = ics_events.session_event(event, self._clock(), self.organizer_name)
        body = append_vevent(empty_calendar(), ics_events.to_block(vevent)).encode("utf-8")
        answer = self.http.request("PUT", url, body, {**ICAL, "If-None-Match": "*"})
        path = href_path(url)
        if answer.status in (200, 201, 204):
            return Result(event.key, Outcome.CREATED, path, event.video_url)
        try:
            if answer.status == 412:
                found = self.server.fetch(url, event.key)
                if found is None:  # something else sits there, or it was deleted meanwhile
                    return self._failed(
                        event.key, f"{url} does not hold session {event.key}; try again", True
                    )
                mine = answer.lost_attempts > 0 and same_stamp(found.vevent, vevent)
                outcome = Outcome.CREATED if mine else Outcome.EXISTED
                return Result(event.key, outcome, found.path, event.video_url)
            if answer.status == 409 and "no-uid-conflict" in error_conditions(answer.body):
                found = self.server.find(calendar, event.key)
                if found is not None:
                    return Result(event.key, Outcome.EXISTED, found.path, event.video_url)
            if answer.status in (403, 404, 405, 409):
                return self._failed(
                    event.key,
                    f"cannot write to the calendar of {who} at {calendar} ({answer.describe()}): "
                    "check `calendar:` of that person in the config and the account's rights",
                )
        except CalendarMissing as exc:
            return self._failed(event.key, f"calendar of {who}: {exc}")
        except DavFailed as exc:
            return self._failed(event.key, f"calendar of {who}: {exc}", exc.retryable)
        return self._failed(
            event.key,
            f"creating session {event.key} in the calendar of {who}: {answer.describe()}",
            retryable=answer.lost or answer.status in (429, 500, 502, 503, 504),
        )

    @staticmethod
    def _failed(key: str, error: str, retryable: bool = False) -> Result:
        return Result(key, Outcome.FAILED, error=error, retryable=retryable)

    # --- update -----------------------------------------------------------------------

    def update(self, changes: Sequence[EventChange]) -> list[Result]:
        results: dict[str, Result] = {}
        for change in changes:
            try:
                results[change.key] = self._apply(change)
            except CalendarMissing as exc:
                # Not "gone": the calendar itself is wrong, so nothing is known of the event.
                results[change.key] = self._failed(
                    change.key,
                    f"calendar of {_who(change.organizer)}: {exc} "
                    "(check `calendar:` of that person in the config and the account's rights)",
                )
            except DavFailed as exc:
                who = _who(change.organizer)
                results[change.key] = self._failed(
                    change.key, f"calendar of {who}: {exc}", exc.retryable
                )
        return in_order([c.key for c in changes], results)

    def _missing(self, change: EventChange, why: str) -> Result:
        if change.action is ChangeAction.CANCEL:
            return Result(change.key, Outcome.GONE)
        who = _who(change.organizer)
        return self._failed(
            change.key, f"no session {change.key} to move in the calendar of {who}: {why}"
        )

    def _apply(self, change: EventChange) -> Result:
        try:
            calendar = self.server.calendar_url(change.organizer)
        except BadCalendarRef as exc:
            return self._failed(change.key, f"calendar of {_who(change.organizer)}: {exc}")
        lost_before = False
        for _attempt in range(2):  # a 412 means someone changed it meanwhile: once more
            stored = self.server.find(calendar, change.key, change.event_id)
            if stored is None:
                return self._missing(change, "it is not on the server")
            done = self._already_done(change, stored)
            if done is not None:
                if lost_before and done.outcome is Outcome.GONE:
                    return Result(change.key, Outcome.CANCELLED, stored.path)
                return done
            now = self._clock()
            if change.action is ChangeAction.CANCEL:
                ics_events.cancelled(stored.vevent, now, change.comment)
                outcome = Outcome.CANCELLED
            else:
                assert change.start is not None and change.end is not None
                ics_events.moved(stored.vevent, change.start, change.end, now)
                outcome = Outcome.UPDATED
            headers = {**ICAL}
            if stored.etag:
                headers["If-Match"] = stored.etag
            url = self.server.resource_url(stored.path)
            # Written as every other calendar text is (`to_block`): names with a
            # backslash read back as written, which icalendar's own writer loses.
            body = ics_events.to_block(stored.calendar).encode("utf-8")
            answer = self.http.request("PUT", url, body, headers)
            if answer.status in (200, 201, 204):
                return Result(change.key, outcome, stored.path)
            if answer.status == 412:
                lost_before = lost_before or answer.lost_attempts > 0
                continue
            if answer.status in (404, 410):
                return self._missing(change, "it was deleted meanwhile")
            return self._failed(
                change.key,
                f"writing session {change.key} at {url}: {answer.describe()}",
                retryable=answer.lost or answer.status >= 500 or answer.status == 429,
            )
        return self._failed(
            change.key, f"session {change.key} kept changing on the server; try again", True
        )

    def _already_done(self, change: EventChange, stored: Stored) -> Result | None:
        if change.action is ChangeAction.CANCEL:
            return Result(change.key, Outcome.GONE, stored.path) if stored.cancelled else None
        assert change.start is not None and change.end is not None
        if stored.cancelled:
            return self._failed(
                change.key,
                f"session {change.key} is cancelled at {stored.path}; book a new attempt",
            )
        if ics_events.is_same_time(stored.vevent, change.start, change.end):
            return Result(change.key, Outcome.UPDATED, stored.path)  # a retried move
        return None

    # --- changes ----------------------------------------------------------------------

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        who = _who(organizer)
        try:
            zone = _zone(organizer)
            return read_changes(
                self.http,
                self.server.query,
                self.server.calendar_url(organizer),
                organizer.email,
                zone,
                cursor,
                start,
                end,
            )
        except CalendarMissing as exc:
            raise ConnectorUserError(
                f"calendar of {who}: {exc} (check `calendar:` of that person in the config "
                "and the account's rights)"
            ) from None
        except BadCalendarRef as exc:
            raise ConnectorUserError(f"calendar of {who}: {exc}") from None
        except DavFailed as exc:
            raise TransientError(f"calendar of {who}: {exc}") from None

    # --- lookup -----------------------------------------------------------------------

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        return no_attendance(queries, "CalDAV calendars have no meeting attendance")

    def lookup(self, organizer: CalendarRef, keys: Sequence[str]) -> Lookup:
        """Each session at `<key>.ics`, else by UID anywhere in the organiser's
        calendar (whatever its time); a cancelled one counts as gone. A calendar that
        cannot be read is an error for its keys, never "gone"."""
        found: dict[str, EventState | None] = {}
        errors: dict[str, str] = {}
        who = _who(organizer)
        for key in dict.fromkeys(keys):
            try:
                calendar = self.server.calendar_url(organizer)
                zone = _zone(organizer)
                stored = self.server.find(calendar, key)
            except (CalendarMissing, BadCalendarRef, DavFailed, ConnectorUserError) as exc:
                errors[key] = f"cannot look up session {key} in the calendar of {who}: {exc}"
                continue
            if stored is None or stored.cancelled:
                found[key] = None
                continue
            state = ics_events.event_state(stored.vevent, key, zone)
            found[key] = replace(state, event_id=stored.path) if state is not None else None
        return Lookup(found, errors)

    def close(self) -> None:
        self.http.client.close()


# --- helpers ------------------------------------------------------------------------


def _zone(ref: CalendarRef) -> tzinfo:
    try:
        return ZoneInfo(ref.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadCalendarRef(f"unknown time zone {ref.timezone!r}") from None


def _who(ref: CalendarRef) -> str:
    return f"{ref.person_id} ({ref.email})"


def make_connector(
    url: str,
    username: str,
    password: str,
    *,
    secret_source: str = "the connector settings",
    timeout_seconds: float = 30.0,
    max_attempts: int = 5,
    concurrency: int = 4,
    organizer_name: str = "",
    calendar_template: str = "",
    limits: Limits = DEFAULT_LIMITS,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
) -> CaldavConnector:
    """A connector with its HTTP client. `transport`, `sleep` and `clock` are for tests
    (fault injection without waiting); the config goes through `open_connector`."""
    client = httpx.Client(
        auth=httpx.BasicAuth(username, password),
        timeout=httpx.Timeout(timeout_seconds),
        trust_env=False,  # proxies and CA bundles are not taken from the environment
        transport=transport,
        follow_redirects=False,  # a redirect must not carry the credentials elsewhere
    )
    http = DavHttp(
        client,
        username=username,
        secret_source=secret_source,
        max_attempts=max_attempts,
        sleep=sleep,
    )
    return CaldavConnector(
        url,
        http,
        organizer_name=organizer_name,
        concurrency=concurrency,
        calendar_template=calendar_template,
        clock=clock,
        limits=limits,
    )


def open_connector(options: Mapping[str, Any], context: ConnectorContext) -> CaldavConnector:
    url = str(options.get("url") or "").strip()
    if not url.startswith(("http://", "https://")):
        raise ConnectorUserError(
            "caldav connector: set `url` to the server's http(s) address, e.g. "
            "https://dav.example.com/"
        )
    username = str(options.get("username") or "").strip()
    if not username:
        raise ConnectorUserError("caldav connector: set `username` (the service account)")
    password = resolve_secret(options, "password")
    assert password is not None  # required=True raises instead of answering None
    source = (
        f"environment variable {options['password_env']}"
        if options.get("password_env")
        else f"file {options.get('password_file')}"
    )
    try:
        return make_connector(
            url,
            username,
            password,
            secret_source=source,
            timeout_seconds=float(options.get("timeout_seconds", 30)),
            max_attempts=int(options.get("max_attempts", 5)),
            concurrency=int(options.get("concurrency", 4)),
            organizer_name=str(options.get("organizer_name", "") or ""),
            calendar_template=str(options.get("calendar_template", "") or ""),
            limits=limits_from_options(options, "caldav"),
        )
    except (TypeError, ValueError) as exc:
        raise ConnectorUserError(
            f"caldav connector: timeout_seconds, max_attempts and concurrency must be "
            f"numbers ({exc})"
        ) from None
