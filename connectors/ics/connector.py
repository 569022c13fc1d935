"""The `local` connector: a folder of iCalendar files, with invitations to an outbox.

Options (config `connectors: local:`):
- `path`: the folder of calendars (relative to the config's folder);
- `outbox`: where iTIP invitation e-mails go (default: the organisation's outbox,
  else `<path>/outbox`);
- `organizer_name`: display name on invitations (optional);
- `max_file_mb`, `max_events`, `max_occurrences`: per-calendar limits (`ics.limits`);
  a calendar above one is an error for its owner, never free time;
- `attendance_dir`: a folder of meeting reports, `<session key>.json`
  (`ics.attendance`); without it, attendance is UNSUPPORTED.

A person's `CalendarRef.calendar_id` is a `.ics` file, or a folder of `.ics` files,
relative to `path` (absolute paths allowed).

Attendee copies: a session also goes into each attendee's calendar when it is in the
same folder, so their busy time shows it. An attendee's calendar is found as
`<path>/<email>.ics`, else `<path>/<email>/` (a folder calendar), else a top-level
`.ics` file whose VCALENDAR has `X-COACHPASS-OWNER:mailto:<email>`.

Crash order. Creating: the organiser's calendar first, then the attendees' copies and
invitation e-mails. The organiser's calendar is the record: a crash can leave an event
there without copies, which the retry (EXISTED) completes, but never a copy nobody
knows of (an orphan that no cancellation or expiry would reach). The retry rewrites the
same copies and the same e-mail files (names derived from key and SEQUENCE), so nobody
ends up with two. Moving and cancelling: copies and e-mails first, the organiser's
calendar last, so a change the record shows done has reached everybody; a cancel of a
session the organiser's calendar does not hold still cancels copies of it found
anywhere in the folder (written in the old order by an earlier version). Temp files
left by an interrupted write are removed when the connector is opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from connectors.base import (
    SESSION_TAG,
    AttendanceAnswer,
    Attendee,
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
    in_order,
    no_attendance,
)
from connectors.ics import events as ics_events
from connectors.ics.attendance import read_attendance
from connectors.ics.cache import StampedCache
from connectors.ics.changes import change_set, our_events
from connectors.ics.defects import CalendarDefect
from connectors.ics.files import (
    CalendarLocked,
    Span,
    append_vevent,
    calendar_files,
    empty_calendar,
    locked_all,
    read_text,
    replace_span,
    unfold,
    vevent_spans,
    write_all,
    write_text,
)
from connectors.ics.folder import attendee_calendars, file_owner
from connectors.ics.itip import invitation
from connectors.ics.limits import DEFAULT_LIMITS, Limits, limits_from_options
from connectors.ics.read import BusyRead, read_busy
from connectors.ics.recovery import copies_of, remove_stale_temp_files
from connectors.ics.scan import ScanCache
from connectors.ics.staged import StagedWrites

log = logging.getLogger(__name__)


class LocalConnector:
    """`CalendarConnector` over a folder of .ics files (see the module docstring)."""

    name = "local"

    def __init__(
        self,
        root: Path,
        outbox: Path,
        *,
        organizer_name: str = "",
        clock: Callable[[], datetime] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        attendance_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.attendance_dir = attendance_dir
        self.limits = limits
        self.outbox = outbox
        self.organizer_name = organizer_name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._scans = ScanCache()
        self._reads: StampedCache[BusyRead] = StampedCache(max_entries=16_384)
        self._owners: StampedCache[str | None] = StampedCache(max_entries=65_536)
        self._ours: StampedCache[tuple[dict[str, EventState], str]] = StampedCache()
        remove_stale_temp_files([root, outbox])

    # --- paths ----------------------------------------------------------------------

    def calendar_path(self, ref: CalendarRef) -> Path:
        path = Path(ref.calendar_id).expanduser()
        return path if path.is_absolute() else self.root / path

    def attendee_calendars(self, emails: Iterable[str]) -> dict[str, Path]:
        # Each file's owner is kept while it is unchanged: every organiser's batch
        # looks its attendees up, and reading every file's head per batch made a
        # large folder's booking quadratic.
        return attendee_calendars(
            self.root,
            emails,
            lambda file: self._owners.get(file, [file], "owner", lambda: file_owner(file)),
        )

    # --- busy -----------------------------------------------------------------------

    def busy(self, calendars: Sequence[CalendarRef], start: datetime, end: datetime) -> FreeBusy:
        intervals: dict[str, tuple[Busy, ...]] = {}
        errors: dict[str, str] = {}
        warnings: dict[str, tuple[str, ...]] = {}
        for ref in calendars:
            path = self.calendar_path(ref)
            try:
                read = self._busy_of(ref, path, start, end)
            except _Unreadable as exc:
                errors[ref.person_id] = f"calendar of {ref.person_id} ({ref.email}): {exc}"
                continue
            intervals[ref.person_id] = read.intervals
            if read.warnings:
                warnings[ref.person_id] = read.warnings
        return FreeBusy(intervals=intervals, errors=errors, warnings=warnings)

    def _busy_of(self, ref: CalendarRef, path: Path, start: datetime, end: datetime) -> BusyRead:
        """All of the calendar's busy time in the window, or `_Unreadable` (never a
        partial answer: a part that cannot be read would look free)."""
        zone = _zone(ref)
        if not path.exists():
            raise _Unreadable(
                f"{path} does not exist (check `calendar:` of that person in the config)"
            )
        hint = "options of the local connector"

        def read() -> BusyRead:
            files = [
                self._scans.scanned(file, self.limits.max_file_mb, f"max_file_mb, {hint}")
                for file in calendar_files(path)
            ]
            return read_busy(str(path), files, ref.email, zone, start, end, self.limits, hint)

        try:
            question = (ref.email.strip().lower(), ref.timezone, start, end)
            return self._reads.get(path, calendar_files(path), question, read)
        except OSError as exc:
            raise _Unreadable(f"cannot read {exc.filename or path}: {exc.strerror}") from None
        except CalendarDefect as exc:
            raise _Unreadable(str(exc)) from None
        except Exception as exc:  # a bug, but one calendar must not stop everyone's plan
            log.warning("reading %s failed", path, exc_info=True)
            raise _Unreadable(f"cannot read {path} (an unexpected {type(exc).__name__})") from None

    # --- create -----------------------------------------------------------------------

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        results: dict[str, Result] = {}
        # Looked up once for the whole call: per organiser, each look-up that falls
        # back to the owner properties stats every calendar in the folder (75
        # organisers x 1,075 files were 2 s of a 1,000-seller booking).
        everyone = self.attendee_calendars(a.email for e in events for a in e.attendees)
        for org_path, group in _by_calendar(events, lambda e: self.calendar_path(e.organizer)):
            emails = {a.email.strip().lower() for e in group for a in e.attendees}
            copies = {email: everyone[email] for email in emails if email in everyone}
            try:
                results.update(self._create_group(org_path, group, copies))
            except OSError as exc:
                # Disk full, permissions: nothing was recorded in the organiser's
                # calendar, so the next run retries (copies and e-mails are rewritten).
                error = _write_error(group[0].organizer, org_path, exc)
                results.update({e.key: _failed(e.key, error) for e in group})
            except CalendarLocked as exc:
                # Another process is inside these calendars (alive but stalled):
                # nothing was written here; the next run retries.
                results.update(
                    {
                        e.key: Result(e.key, Outcome.FAILED, error=str(exc), retryable=True)
                        for e in group
                    }
                )
        # Two events with one key in a batch: both get the answer for that key.
        return in_order([e.key for e in events], results)

    def _create_group(
        self, org_path: Path, events: list[NewEvent], copies: Mapping[str, Path]
    ) -> dict[str, Result]:
        """One organiser's events; `copies` are their attendees' calendars."""
        if not org_path.is_file() and not org_path.is_dir():
            message = (
                f"calendar of {events[0].organizer.person_id} ({events[0].organizer.email}): "
                f"{org_path} does not exist (check `calendar:` of that person in the config)"
            )
            return {e.key: Result(e.key, Outcome.FAILED, error=message) for e in events}
        lock_set = {org_path, *copies.values()}
        results: dict[str, Result] = {}
        fresh: list[tuple[NewEvent, icalendar.Event, str]] = []
        adopted: list[str] = []  # blocks of events the organiser's calendar holds already
        now = self._clock()
        with locked_all(lock_set):
            text, org_file = self._organiser_text(org_path)
            # Found once: new blocks go after these, so their places stay (scanning
            # the text again per event made a team's booking quadratic).
            before, held = text, vevent_spans(text)
            for event in events:
                if event.key in results:
                    continue  # the same key twice in one batch: one event, one answer
                found = ics_events.find_session(held, event.key)
                if found is not None:
                    uid = (found.uid if found else None) or ics_events.uid_of(event.key)
                    results[event.key] = Result(event.key, Outcome.EXISTED, uid, event.video_url)
                    adopted.append(before[found.start : found.end])
                    continue
                vevent = ics_events.session_event(event, now, self.organizer_name)
                block = ics_events.to_block(vevent)
                fresh.append((event, vevent, block))
                uid = ics_events.uid_of(event.key)
                results[event.key] = Result(event.key, Outcome.CREATED, uid, event.video_url)
            if fresh and org_file is None:
                # Folder calendar: one file per event, named by key, durable together.
                write_all(
                    {
                        org_path / f"{e.key}.ics": _encoded(append_vevent(empty_calendar(), b))
                        for e, _v, b in fresh
                    }
                )
            elif fresh and org_file is not None:
                # All blocks at once: appended one by one, the calendar (which grows
                # by an agenda per session) was searched again for each.
                write_text(
                    org_file, append_vevent(text, "".join(b for _e, _v, b in fresh), org_file)
                )
            # Only once the organiser's calendar holds them (durably): copies and
            # invitations, written as one batch, durable before the calendars are
            # unlocked (so nobody acts on a copy or invitation a crash could still
            # take back), and before this returns (so the store records the
            # session booked only once everything the booking wrote is on disk).
            staged = StagedWrites()
            try:
                for event, vevent, block in fresh:
                    self._deliver(
                        org_path,
                        copies,
                        vevent,
                        block,
                        event.organizer.email,
                        zone=event.organizer.timezone,
                        staged=staged,
                    )
                for block in adopted:
                    self._complete(
                        org_path,
                        copies,
                        block,
                        events[0].organizer.email,
                        zone=events[0].organizer.timezone,
                        staged=staged,
                    )
            finally:
                # Also after a failure half-way, like the writes one by one before:
                # what was delivered stays delivered.
                staged.commit()
        return results

    def _deliver(
        self,
        org_path: Path,
        copies: Mapping[str, Path],
        vevent: icalendar.Event,
        block: str,
        organizer: str,
        *,
        staged: StagedWrites,
        missing_only: bool = False,
        zone: str = "UTC",
    ) -> None:
        """Invite each attendee: the e-mail, then the copy in their calendar, into
        `staged`. `missing_only` (a retry after a crash) writes only what is not
        there yet: an e-mail whose file is in the outbox, or a copy in place, is left
        alone."""
        key = ics_events.key_of(str(vevent.get("UID", "")), str(vevent.get(SESSION_TAG, "")))
        assert key is not None
        # A fresh event's block is `to_block(vevent)`, which the e-mail needs too; a
        # retry's is the text found in the calendar, which the e-mail does not take.
        itip_block = None if missing_only else block
        for email in ics_events.attendee_emails(vevent):
            attendee = Attendee(email, ics_events.attendee_name(vevent, email))
            self._send(
                "REQUEST",
                vevent,
                key,
                organizer,
                attendee,
                staged=staged,
                only_new=missing_only,
                zone=zone,
                block=itip_block,
            )
            copy = copies.get(email)
            if copy is None or copy == org_path:
                continue
            if not (missing_only and self._holds(copy, key, staged)):
                self._put_copy(copy, key, block, staged)

    def _complete(
        self,
        org_path: Path,
        copies: Mapping[str, Path],
        block: str,
        organizer: str,
        *,
        staged: StagedWrites,
        zone: str = "UTC",
    ) -> None:
        """An event the organiser's calendar holds already (a retry): send what a
        crash after writing it may have left unsent. Same e-mail file names, so an
        invitation that did go out is rewritten, not doubled."""
        vevent = ics_events.parse_block(block)
        if str(vevent.get("STATUS", "")).upper() == "CANCELLED":
            return  # the cancellation went (or goes) out by `update`
        wanted = {e for e in ics_events.attendee_emails(vevent)} - set(copies)
        copies = {**copies, **self.attendee_calendars(wanted)}
        self._deliver(
            org_path,
            copies,
            vevent,
            block,
            ics_events.organizer_email(vevent) or organizer,
            staged=staged,
            missing_only=True,
            zone=zone,
        )

    @staticmethod
    def _holds(calendar: Path | None, key: str, staged: StagedWrites) -> bool:
        if calendar is None:
            return False
        return any(
            ics_events.find_session(vevent_spans(staged.read_text(f)), key) is not None
            for f in staged.calendar_files(calendar)
        )

    def _organiser_text(self, org_path: Path) -> tuple[str, Path | None]:
        """The text to search for our events; the file to rewrite (None for folders)."""
        if org_path.is_dir():
            return "".join(read_text(f) for f in calendar_files(org_path)), None
        return read_text(org_path), org_path

    def _put_copy(self, calendar: Path, key: str, block: str, staged: StagedWrites) -> None:
        if calendar.is_dir():
            staged.write_text(calendar / f"{key}.ics", append_vevent(empty_calendar(), block))
            return
        text = staged.read_text(calendar)
        # Most calendars do not hold the session yet: not worth cutting into events.
        held = key in unfold(text)
        found = ics_events.find_session(vevent_spans(text), key) if held else None
        text = replace_span(text, found, block) if found else append_vevent(text, block, calendar)
        staged.write_text(calendar, text)

    def _send(
        self,
        method: str,
        vevent: icalendar.Event,
        key: str,
        organizer: str,
        attendee: Attendee,
        *,
        staged: StagedWrites,
        only_new: bool = False,
        zone: str = "UTC",
        block: str | None = None,
    ) -> None:
        message = invitation(
            method,
            vevent,
            key=key,
            organizer=organizer,
            organizer_name=self.organizer_name,
            attendee=attendee.email,
            attendee_name=attendee.name,
            now=self._clock(),
            zone=zone,
            block=block,
        )
        path = self.outbox / message.file_name
        if only_new and staged.exists(path):
            return  # this very message went out before the crash: not twice
        self.outbox.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(path, message.data)

    # --- update -----------------------------------------------------------------------

    def update(self, changes: Sequence[EventChange]) -> list[Result]:
        results: dict[str, Result] = {}
        for org_path, group in _by_calendar(changes, lambda c: self.calendar_path(c.organizer)):
            for change in group:
                try:
                    results[change.key] = self._apply(org_path, change)
                except OSError as exc:
                    error = _write_error(change.organizer, org_path, exc)
                    results[change.key] = _failed(change.key, error)
                except CalendarLocked as exc:
                    results[change.key] = Result(
                        change.key, Outcome.FAILED, error=str(exc), retryable=True
                    )
        return in_order([c.key for c in changes], results)

    def _apply(self, org_path: Path, change: EventChange) -> Result:
        key = change.key
        located = self._locate(org_path, key)
        if located is None:
            if change.action is ChangeAction.CANCEL:
                return self._cancel_orphans(org_path, change)
            return Result(
                key,
                Outcome.FAILED,
                error=f"no session {key} in the calendar of {change.organizer.person_id} "
                f"({org_path}) to move",
            )
        file, _ = located
        attendees = self._attendee_paths(file, key)
        with locked_all({org_path, file, *attendees.values()}):
            text = read_text(file)
            span = ics_events.find_session(vevent_spans(text), key)
            if span is None:  # deleted between locate and lock
                gone = change.action is ChangeAction.CANCEL
                return Result(key, Outcome.GONE if gone else Outcome.FAILED)
            vevent = ics_events.parse_block(text[span.start : span.end])
            uid = str(vevent.get("UID", ics_events.uid_of(key)))
            is_cancelled = str(vevent.get("STATUS", "")).upper() == "CANCELLED"
            now = self._clock()
            if change.action is ChangeAction.CANCEL:
                if is_cancelled:
                    return Result(key, Outcome.GONE, uid)
                ics_events.cancelled(vevent, now, change.comment)
                method, outcome = "CANCEL", Outcome.CANCELLED
            else:
                assert change.start is not None and change.end is not None
                if is_cancelled:
                    return Result(
                        key,
                        Outcome.FAILED,
                        uid,
                        error=f"session {key} is cancelled in {file}; book a new attempt",
                    )
                if ics_events.is_same_time(vevent, change.start, change.end):
                    return Result(key, Outcome.UPDATED, uid)  # a retried move: done already
                ics_events.moved(vevent, change.start, change.end, now)
                method, outcome = "REQUEST", Outcome.UPDATED
            block = ics_events.to_block(vevent)
            organizer = ics_events.organizer_email(vevent) or change.organizer.email
            # Copies and e-mails durable (as one batch) before the organiser's
            # calendar, the record, shows the change done (see the module doc).
            staged = StagedWrites()
            try:
                for email in ics_events.attendee_emails(vevent):
                    copy = attendees.get(email)
                    if copy is not None and copy != file:
                        self._put_copy(copy, key, block, staged)
                    self._send(
                        method,
                        vevent,
                        key,
                        organizer,
                        Attendee(email, ics_events.attendee_name(vevent, email)),
                        staged=staged,
                        zone=change.organizer.timezone,
                        block=block,
                    )
            finally:
                staged.commit()
            write_text(file, replace_span(text, span, block))
        return Result(key, outcome, uid)

    def _cancel_orphans(self, org_path: Path, change: EventChange) -> Result:
        """Copies of a session the organiser's calendar does not hold (an older
        version wrote copies first and may have died before the organiser's
        calendar): cancel each, and tell its owner, so none stays live."""
        skip = {org_path, *calendar_files(org_path)} if org_path.exists() else set()
        done = False
        for file, _span in copies_of(self.root, change.key, skip):
            with locked_all({file}):
                text = read_text(file)
                span = ics_events.find_session(vevent_spans(text), change.key)
                if span is None:
                    continue
                vevent = ics_events.parse_block(text[span.start : span.end])
                if str(vevent.get("STATUS", "")).upper() == "CANCELLED":
                    continue
                ics_events.cancelled(vevent, self._clock(), change.comment)
                organizer = ics_events.organizer_email(vevent) or change.organizer.email
                block = ics_events.to_block(vevent)
                staged = StagedWrites()
                try:
                    for email in ics_events.attendee_emails(vevent):
                        attendee = Attendee(email, ics_events.attendee_name(vevent, email))
                        self._send(
                            "CANCEL",
                            vevent,
                            change.key,
                            organizer,
                            attendee,
                            staged=staged,
                            zone=change.organizer.timezone,
                            block=block,
                        )
                finally:
                    staged.commit()
                write_text(file, replace_span(text, span, block))
                done = True
        return Result(change.key, Outcome.CANCELLED if done else Outcome.GONE)

    def _locate(self, org_path: Path, key: str) -> tuple[Path, Span] | None:
        if not org_path.exists():
            return None
        preferred = org_path / f"{key}.ics" if org_path.is_dir() else None
        files = calendar_files(org_path)
        if preferred is not None and preferred in files:
            files = [preferred, *(f for f in files if f != preferred)]
        for file in files:
            span = ics_events.find_session(vevent_spans(read_text(file)), key)
            if span is not None:
                return file, span
        return None

    def _attendee_paths(self, file: Path, key: str) -> dict[str, Path]:
        text = read_text(file)
        span = ics_events.find_session(vevent_spans(text), key)
        if span is None:
            return {}
        vevent = ics_events.parse_block(text[span.start : span.end])
        return self.attendee_calendars(ics_events.attendee_emails(vevent))

    # --- changes ----------------------------------------------------------------------

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        path = self.calendar_path(organizer)
        if not path.exists():
            raise ConnectorUserError(
                f"calendar of {organizer.person_id} ({organizer.email}): {path} does not exist "
                "(check `calendar:` of that person in the config)"
            )
        zone = _zone_or_error(organizer)
        try:
            question = (organizer.email.strip().lower(), organizer.timezone)
            current, epoch = self._ours.get(
                path,
                calendar_files(path),
                question,
                lambda: our_events(path, organizer.email, zone),
            )
        except OSError as exc:
            raise ConnectorUserError(
                f"calendar of {organizer.person_id} ({organizer.email}): cannot read "
                f"{exc.filename or path}: {exc.strerror}; fix the file or its permissions"
            ) from None
        except ValueError as exc:
            # Unreadable is not empty: its sessions must not look deleted.
            raise ConnectorUserError(
                f"calendar of {organizer.person_id} ({organizer.email}): {exc}; restore "
                "the file (e.g. from a backup) and run reconcile again"
            ) from None
        return change_set(current, str(path.resolve()), epoch, cursor, start, end)

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
        if self.attendance_dir is None:
            return no_attendance(queries, "local calendars have no meeting attendance")
        return read_attendance(self.attendance_dir, queries)

    def lookup(self, organizer: CalendarRef, keys: Sequence[str]) -> Lookup:
        """By UID/tag in the organiser's calendar, whatever the time. The organiser's
        calendar is the record: an event deleted or cancelled there is gone, even if
        an attendee's copy is still live; cancelling the session (`update`) then
        finds such copies anywhere in the folder and cancels them too."""
        path = self.calendar_path(organizer)
        who = f"calendar of {organizer.person_id} ({organizer.email})"
        if not path.exists():
            problem = (
                f"{who}: {path} does not exist (check `calendar:` of that person in the config)"
            )
            return Lookup({}, {k: problem for k in keys})
        try:
            zone = _zone(organizer)
        except _Unreadable as exc:
            return Lookup({}, {k: f"{who}: {exc}" for k in keys})
        found: dict[str, EventState | None] = {}
        errors: dict[str, str] = {}
        for key in dict.fromkeys(keys):
            try:
                found[key] = self._state_of(path, key, zone)
            except OSError as exc:
                errors[key] = f"{who}: cannot read {exc.filename or path}: {exc.strerror}"
            except ValueError as exc:
                errors[key] = f"{who}: session {key} cannot be read: {exc}"
        return Lookup(found, errors)

    def _state_of(self, path: Path, key: str, zone: tzinfo) -> EventState | None:
        located = self._locate(path, key)
        if located is None:
            return None
        file, span = located
        vevent = ics_events.parse_block(read_text(file)[span.start : span.end])
        state = ics_events.event_state(vevent, key, zone)
        return None if state is None or state.cancelled else state

    def close(self) -> None:
        """Nothing held open between calls: every call opens and closes its files."""


# --- helpers ------------------------------------------------------------------------


class _Unreadable(Exception):
    """A calendar whose busy time is unknown; becomes a `FreeBusy.errors` entry."""


def _write_error(ref: CalendarRef, path: Path, exc: OSError) -> str:
    where = exc.filename or path
    return f"calendar of {ref.person_id} ({ref.email}): cannot write {where}: {exc.strerror}"


def _encoded(text: str) -> bytes:
    """As `files.write_text` encodes (bytes a read could not decode are kept)."""
    return text.encode("utf-8", errors="surrogateescape")


def _failed(key: str, error: str) -> Result:
    return Result(key, Outcome.FAILED, error=error, retryable=True)


def _zone(ref: CalendarRef) -> tzinfo:
    try:
        return ZoneInfo(ref.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Unreadable(f"unknown time zone {ref.timezone!r}") from None


def _zone_or_error(ref: CalendarRef) -> tzinfo:
    try:
        return _zone(ref)
    except _Unreadable as exc:
        raise ConnectorUserError(f"calendar of {ref.person_id} ({ref.email}): {exc}") from None


def _by_calendar(items: Sequence[Any], path_of: Callable[[Any], Path]) -> list[tuple[Path, list]]:
    groups: dict[Path, list[Any]] = {}
    for item in items:
        groups.setdefault(path_of(item), []).append(item)
    return list(groups.items())


def open_connector(options: Mapping[str, Any], context: ConnectorContext) -> LocalConnector:
    raw_path = options.get("path")
    if not raw_path:
        raise ConnectorUserError("local connector: set `path` (the folder of .ics calendars)")
    root = Path(str(raw_path)).expanduser()
    if not root.is_absolute():
        root = context.base_dir / root
    if not root.is_dir():
        raise ConnectorUserError(f"local connector: path {root} is not a folder")
    raw_outbox = options.get("outbox")
    if raw_outbox:
        outbox = Path(str(raw_outbox)).expanduser()
        if not outbox.is_absolute():
            outbox = context.base_dir / outbox
    else:
        outbox = context.outbox or root / "outbox"
    name = str(options.get("organizer_name", "") or "")
    attendance_dir = None
    raw_attendance = options.get("attendance_dir")
    if raw_attendance:
        attendance_dir = Path(str(raw_attendance)).expanduser()
        if not attendance_dir.is_absolute():
            attendance_dir = context.base_dir / attendance_dir
    return LocalConnector(
        root,
        outbox,
        organizer_name=name,
        limits=limits_from_options(options),
        attendance_dir=attendance_dir,
    )
