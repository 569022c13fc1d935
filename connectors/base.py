"""The one small protocol every calendar and mail back end implements.

Connectors never import `scheduler`: they see people only as `CalendarRef`s and
sessions only as `NewEvent`s keyed by the session key. Every call is batch-shaped
(one call per organiser or per group of calendars, so providers can batch) and
idempotent by that key, so a retried or crashed run can never create a second event.

Time values are timezone-aware `datetime`s everywhere; a naive datetime is a bug and
is rejected by the value types themselves.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: Private tag carrying the session key on every event Coachpass creates
#: (iCalendar property, Google `extendedProperties.private` key, Graph extended property).
SESSION_TAG = "X-COACHPASS-SESSION"
#: Suffix of the iCalendar UID: `<key>@coachpass`.
UID_DOMAIN = "coachpass"
#: Stands for the meeting link in an agenda rendered before the provider made the
#: meeting (see `NewEvent.link_mark`). A URL of the reserved `.invalid` domain, so a
#: template that treats it as a link (href, autoescape) leaves it intact, and it can
#: never reach anyone as a working address.
LINK_MARK = "https://coachpass.invalid/meeting-link"


#: Observers of provider traffic: called as `observer(provider, event)` with event
#: `request`, `retry` or `throttled`. The service registers its metrics here;
#: connectors only call `observe_provider` and never learn who listens.
PROVIDER_OBSERVERS: list[Callable[[str, str], None]] = []


def observe_provider(provider: str, event: str) -> None:
    for observer in PROVIDER_OBSERVERS:
        observer(provider, event)


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


# ---------------------------------------------------------------------------
# Errors. A connector raises these; the CLI shows `ConnectorUserError`s without a
# traceback (they name the account, calendar or setting to fix) and keeps the
# traceback for anything else.
# ---------------------------------------------------------------------------


class ConnectorError(Exception):
    """Something a back end could not do. Never carries a secret in its message."""


class ConnectorUserError(ConnectorError):
    """A problem the admin can fix: bad credentials, revoked grant, missing calendar."""


class AuthError(ConnectorUserError):
    """Credentials missing, expired or revoked; the message names account and fix."""


class SecretError(ConnectorUserError):
    """A secret named by the config could not be read (env var unset, file missing)."""


class TransientError(ConnectorError):
    """Throttling or a server fault that outlived the connector's own retries."""


# ---------------------------------------------------------------------------
# Value types
# ---------------------------------------------------------------------------


class BusyKind(StrEnum):
    BUSY = "busy"
    TENTATIVE = "tentative"
    OOF = "oof"  # out of office: the whole span is unavailable, no buffer logic needed


@dataclass(frozen=True)
class Busy:
    start: datetime
    end: datetime
    kind: BusyKind = BusyKind.BUSY

    def __post_init__(self) -> None:
        _aware("Busy.start", self.start)
        _aware("Busy.end", self.end)
        if self.end < self.start:
            raise ValueError(f"Busy ends before it starts: {self.start} > {self.end}")


@dataclass(frozen=True)
class CalendarRef:
    """Which calendar to read or write, and whose it is."""

    person_id: str
    email: str
    calendar_id: str  # provider's id: Google calendar id, Graph mailbox UPN, ICS path, CalDAV URL
    timezone: str = "UTC"  # the owner's zone: floating ICS times are read in it


@dataclass(frozen=True)
class FreeBusy:
    """Answer of `busy`: intervals per person, and a readable error for each calendar
    that could not be read. A calendar in `errors` is *unknown*, never free."""

    intervals: Mapping[str, tuple[Busy, ...]]
    errors: Mapping[str, str] = field(default_factory=dict)
    #: Calendars read completely but with a guess the admin should know about (an
    #: unknown TZID read in the owner's zone): person -> messages. Their intervals
    #: are used; fixing the calendar removes the warning.
    warnings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    mime_type: str
    data: bytes


@dataclass(frozen=True)
class NewEvent:
    """A session to put in the organiser's calendar, inviting the attendees."""

    key: str  # session key: idempotency key, Google id, Graph transactionId, ICS UID stem
    organizer: CalendarRef
    attendees: tuple[Attendee, ...]
    start: datetime
    end: datetime
    summary: str
    description_text: str
    description_html: str = ""
    attachments: tuple[Attachment, ...] = ()
    guideline_url: str | None = None  # linked (Google: Drive link attachment) when set
    online_meeting: bool = True  # ask the provider for a native video link (Meet / Teams)
    video_url: str | None = None  # fallback link for back ends without native meetings
    location: str = ""
    # False only when the caller's own records show that no create for this key was
    # ever sent: a back end without native idempotency (Graph) may then skip the
    # look-up it otherwise makes before creating. True is always safe.
    may_exist: bool = True
    # The text in the description and the text attachments that stands for the
    # meeting link (LINK_MARK), when the agenda was rendered before the provider
    # made the meeting. A back end with native meetings replaces it with the one
    # link the invite carries (`with_link`): the native one, else the fallback
    # `video_url`, else `no_link_text`. None: the agenda already holds its link.
    link_mark: str | None = None
    no_link_text: str = ""

    def __post_init__(self) -> None:
        _aware("NewEvent.start", self.start)
        _aware("NewEvent.end", self.end)


def with_link(event: NewEvent, url: str | None) -> NewEvent:
    """`event` with its link mark replaced by `url` in the description and the text
    attachments (without a link: by `no_link_text`). Unmarked events are returned
    as they are: their agenda was rendered with its link."""
    mark = event.link_mark
    if not mark:
        return event

    def fill_html(content: str) -> str:
        if url is None:
            # The default templates put the link in an anchor: drop the anchor.
            anchor = f'<a href="{html.escape(mark)}">{html.escape(mark)}</a>'
            content = content.replace(anchor, html.escape(event.no_link_text))
            return content.replace(html.escape(mark), html.escape(event.no_link_text))
        return content.replace(html.escape(mark), html.escape(url))

    def fill_text(content: str) -> str:
        return content.replace(mark, url if url is not None else event.no_link_text)

    files = []
    for att in event.attachments:
        if mark.encode() not in att.data:
            pass  # not ours to fill (a binary file, or one rendered with its link)
        elif att.mime_type == "text/html":
            att = Attachment(att.filename, att.mime_type, fill_html(att.data.decode()).encode())
        elif att.mime_type.startswith("text/"):
            att = Attachment(att.filename, att.mime_type, fill_text(att.data.decode()).encode())
        files.append(att)
    return _replace(
        event,
        description_text=fill_text(event.description_text),
        description_html=fill_html(event.description_html),
        attachments=tuple(files),
        link_mark=None,
    )


class ChangeAction(StrEnum):
    MOVE = "move"
    CANCEL = "cancel"


@dataclass(frozen=True)
class EventChange:
    """Move or cancel an event this service created."""

    key: str
    organizer: CalendarRef
    action: ChangeAction
    event_id: str | None = None  # provider id when known; otherwise found by key
    start: datetime | None = None  # MOVE only
    end: datetime | None = None
    comment: str = ""  # CANCEL: told to the attendees

    def __post_init__(self) -> None:
        _aware("EventChange.start", self.start)
        _aware("EventChange.end", self.end)
        if self.action is ChangeAction.MOVE and (self.start is None or self.end is None):
            raise ValueError("a MOVE needs start and end")


class Outcome(StrEnum):
    CREATED = "created"  # a new event now exists
    EXISTED = "existed"  # the key was there already: adopted, nothing created
    UPDATED = "updated"
    CANCELLED = "cancelled"
    GONE = "gone"  # the event was already deleted/cancelled: success for cancel
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    key: str
    outcome: Outcome
    event_id: str | None = None
    video_url: str | None = None
    error: str | None = None  # human readable, names the person/calendar; no secrets
    retryable: bool = False  # FAILED but worth trying again on the next run

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAILED


class Response(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs_action"


@dataclass(frozen=True)
class EventState:
    """What the organiser's calendar says about one of our events now."""

    key: str  # session key, read back from the private tag (or the UID)
    event_id: str
    start: datetime
    end: datetime
    cancelled: bool = False  # cancelled or deleted by the organiser
    responses: Mapping[str, Response] = field(default_factory=dict)  # email (lower) -> reply
    attended: Mapping[str, bool] | None = None  # provider-verified attendance, when known

    def __post_init__(self) -> None:
        _aware("EventState.start", self.start)
        _aware("EventState.end", self.end)


@dataclass(frozen=True)
class ChangeSet:
    """Answer of `changes`: our events that changed since `cursor` (all of them in
    the window when `full`), and the cursor for next time."""

    events: tuple[EventState, ...]
    cursor: str
    full: bool = False  # True when this was a full read (first run or expired cursor)
    removed: tuple[str, ...] = ()  # keys (or provider ids) reported deleted


@dataclass(frozen=True)
class Lookup:
    """Answer of `lookup`: each asked key's event as it is now, wherever it lies.

    `found[key]` is the event (at any time, far outside every read window too), or
    None when it is really gone: deleted, or cancelled by the organiser. A key the
    back end could not tell about (network, throttling, an unreadable file) is in
    `errors` with a readable reason instead, and never in `found`: "could not tell"
    must not be mistaken for "gone", or a moved session would be booked twice."""

    found: Mapping[str, EventState | None]
    errors: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = set(self.found) & set(self.errors)
        if both:
            raise ValueError(f"keys both found and in error: {sorted(both)}")


class AttendanceStatus(StrEnum):
    """What a meeting provider can tell about one session's meeting."""

    MET = "met"  # the meeting took place: `presence` says who was in it, and when
    NOT_HELD = "not_held"  # nobody joined the meeting at all (the provider is sure)
    PENDING = "pending"  # too early: the provider may still report it; ask again later
    EXPIRED = "expired"  # the provider no longer keeps the records (Meet: 30 days)
    NO_MEETING = "no_meeting"  # the event has no meeting of this provider (a fallback link)
    UNSUPPORTED = "unsupported"  # this back end has no attendance at all (local, CalDAV)


@dataclass(frozen=True)
class MeetingQuery:
    """One session whose meeting attendance is asked for."""

    key: str  # session key
    organizer: CalendarRef
    people: tuple[Attendee, ...]  # whose presence to report: the manager and the seller
    start: datetime  # the session's time as booked (after any move)
    end: datetime
    event_id: str | None = None  # provider's event id, when known
    video_url: str | None = None  # the meeting link the invitation carries

    def __post_init__(self) -> None:
        _aware("MeetingQuery.start", self.start)
        _aware("MeetingQuery.end", self.end)


#: One person's time in a meeting: each join..leave as its own interval (a rejoin is
#: a second interval), timezone-aware.
Presence = tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True)
class Attendance:
    """A provider's answer for one session's meeting. `presence` maps lower-case
    e-mail to that person's intervals in the meeting; a person asked for but absent
    from `presence` was not in it (as far as the provider can tell: a participant who
    was not signed in cannot be matched to anyone)."""

    key: str
    status: AttendanceStatus
    presence: Mapping[str, Presence] = field(default_factory=dict)
    detail: str = ""  # readable: which record was read, why it is pending or unsupported


@dataclass(frozen=True)
class AttendanceAnswer:
    """Answer of `attendance`: a result per asked key, or a readable error for it
    (a missing permission names the permission or policy to grant). A key in
    `errors` is "could not tell", never "nobody came"."""

    results: Mapping[str, Attendance]
    errors: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = set(self.results) & set(self.errors)
        if both:
            raise ValueError(f"keys both answered and in error: {sorted(both)}")


# ---------------------------------------------------------------------------
# Protocols
# ---------------------------------------------------------------------------


@runtime_checkable
class CalendarConnector(Protocol):
    """A calendar back end. Contract (tests/contract/suite.py checks it for every one):

    - `busy` returns every person asked for, either in `intervals` (possibly empty) or
      in `errors`; recurring events are expanded, all-day events cover their days,
      free/transparent, declined and cancelled events are not busy.
    - `create` is idempotent by `NewEvent.key`: a key that exists (even cancelled)
      yields `EXISTED` with the existing event's id, never a second event.
    - `update` moves or cancels; cancelling what is already gone is success (`GONE`).
    - `changes` lists only events carrying our tag; an expired or unknown cursor falls
      back to a full read of the window (`full=True`), never an error.
    - `attendance` answers, for each asked session, what its meeting provider knows
      about who was in the meeting and when (`AttendanceStatus`); back ends without
      meetings answer `UNSUPPORTED` for every key, without I/O. A key it could not
      tell about is in `errors`, never reported as "nobody came".
    - `lookup` finds events by session key directly, whatever their time: a moved
      event is found at its new time, a deleted or cancelled one is None, and a key
      that could not be looked up is in `errors` (never None). Absence from a read
      proves nothing; only this answer may conclude that a session is gone.
    - results come back in the order of the input.
    """

    name: str

    def busy(
        self, calendars: Sequence[CalendarRef], start: datetime, end: datetime
    ) -> FreeBusy: ...

    def create(self, events: Sequence[NewEvent]) -> list[Result]: ...

    def update(self, changes: Sequence[EventChange]) -> list[Result]: ...

    def changes(
        self, organizer: CalendarRef, cursor: str | None, start: datetime, end: datetime
    ) -> ChangeSet: ...

    def lookup(self, organizer: CalendarRef, keys: Sequence[str]) -> Lookup: ...

    def attendance(self, queries: Sequence[MeetingQuery]) -> AttendanceAnswer: ...

    def close(self) -> None: ...


@runtime_checkable
class Mailer(Protocol):
    """Sends one finished message; returns its Message-ID."""

    def send(self, message: EmailMessage) -> str: ...


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector factory may need besides its own options."""

    base_dir: Path  # relative paths in options are resolved against the config's folder
    outbox: Path | None = None  # where invitations/reports go when there is no server
    organisation: str = ""
    # "Now" for what a provider can tell only by the time (is a meeting over, is its
    # record expired); None is the real clock. The CLI passes its own, so a pinned
    # COACHPASS_NOW is the same instant for reconcile and for the connectors.
    clock: Callable[[], datetime] | None = None


def resolve_secret(options: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """Read secret `name` from `<name>_env` (an environment variable) or `<name>_file`.

    Secrets are never written inline in the config (the settings reject that); the
    message on failure names the variable or file, never a value.
    """
    env_name = options.get(f"{name}_env")
    file_name = options.get(f"{name}_file")
    if env_name:
        value = os.environ.get(str(env_name))
        if value:
            return value
        if required:
            raise SecretError(f"environment variable {env_name} (for {name}) is not set")
        return None
    if file_name:
        path = Path(str(file_name)).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read {name} from file {path}: {exc.strerror}") from None
    if required:
        raise SecretError(f"no {name}: set {name}_env or {name}_file in the connector settings")
    return None


def no_attendance(queries: Sequence[MeetingQuery], why: str) -> AttendanceAnswer:
    """The answer of a back end without meeting attendance: `UNSUPPORTED`, saying why."""
    return AttendanceAnswer(
        {q.key: Attendance(q.key, AttendanceStatus.UNSUPPORTED, detail=why) for q in queries}
    )


def in_order(keys: Sequence[str], results: Mapping[str, Result]) -> list[Result]:
    """Results in the order of `keys`; a key without result is a bug in the connector."""
    return [results[k] for k in keys]
