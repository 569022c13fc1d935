"""Domain values: organisation, people, policy, sessions and their keys.

Plain frozen dataclasses, produced by `scheduler.settings.load` from the YAML config and
consumed by the pure planning core, booking, reconcile and the report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from connectors.base import CalendarRef

# ---------------------------------------------------------------------------
# Months
# ---------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """`YYYY-MM` -> Month; raises ValueError with the text in the message."""
        try:
            y, m = text.strip().split("-")
            year, month = int(y), int(m)
        except ValueError:
            raise ValueError(f"month {text!r} is not of the form YYYY-MM") from None
        if not 1 <= month <= 12:
            raise ValueError(f"month {text!r}: the month must be 01..12")
        if not 1900 <= year <= 9998:
            raise ValueError(f"month {text!r}: the year must be 1900..9998")
        return cls(year, month)

    @classmethod
    def of(cls, day: date | datetime) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


# ---------------------------------------------------------------------------
# People, teams, policy
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingHours:
    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"working hours end {self.end} is not after start {self.start}")

    @property
    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str
    timezone: str
    country: str  # ISO 3166 alpha-2, for public holidays
    connector: str  # registry name: local, google, outlook
    calendar_id: str
    subdivision: str | None = None  # e.g. a US state or German Land, for holidays
    working_hours: WorkingHours | None = None  # None: the policy's hours
    preferred_hours: tuple[time, time] | None = None  # soft preference

    def calendar(self) -> CalendarRef:
        return CalendarRef(self.id, self.email, self.calendar_id, self.timezone)


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    manager: Person
    sellers: tuple[Person, ...]


@dataclass(frozen=True)
class AttendancePolicy:
    """When a meeting provider's attendance report settles a session's outcome
    (`scheduler.sessions.attendance`)."""

    #: Verified held from this many minutes with manager and seller in the meeting
    #: together; less stays presumed (a short call proves little either way).
    min_minutes_together: int = 15
    #: How long after a session's end a provider may take to report its meeting:
    #: asking earlier would read a half-written report.
    provider_delay_minutes: int = 60
    #: How many days after the end to keep asking (Meet deletes its records after 30).
    keep_asking_days: int = 7


@dataclass(frozen=True)
class Policy:
    session_minutes: int = 45
    buffer_minutes: int = 10  # kept free around existing meetings and between sessions
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    earliest_day: int = 1  # of the month
    latest_day: int = 28
    lead_time_hours: int = 48  # never book closer to now than this
    max_sessions_per_manager_day: int = 3
    target_minutes_per_manager_week: int = 120
    max_minutes_per_manager_week: int = 240
    sessions_per_seller: int = 1
    rebook_on_decline: bool = True
    rebook_on_cancel: bool = True
    blackout_dates: frozenset[date] = frozenset()
    preferred_hours: tuple[time, time] | None = None  # soft: e.g. 09:00-12:00
    preferred_weekdays: frozenset[int] = frozenset()
    slot_step_minutes: int = 15
    solver_time_limit_seconds: float = 10.0
    online_meeting: bool = True  # ask the provider for Meet / Teams links
    video_url_template: str | None = None  # fallback link, may use {key}
    # The agenda (and, without a guideline link, the guidelines) as files on the
    # invite. Off, the invite's description still carries the whole agenda, and
    # Outlook needs one `$batch` part per session instead of four (three with a
    # guideline link): a file cannot go into the create, so a session with one is
    # created, given its file, and only then invited.
    agenda_file: bool = True
    attendance: AttendancePolicy = field(default_factory=AttendancePolicy)


@dataclass(frozen=True)
class ReportThresholds:
    """Where the report's status turns green and amber (shares, 0..1); printed in its
    legend. Minutes are rated against `Policy.target_minutes_per_manager_week`."""

    coverage_green: float = 0.90
    coverage_amber: float = 0.70
    held_rate_green: float = 0.85
    held_rate_amber: float = 0.70
    minutes_amber_share: float = 0.75  # of the target


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Organisation:
    id: str  # stable slug: part of every session key
    name: str
    timezone: str
    country: str
    language: str  # "sv" or "en"
    policy: Policy
    teams: tuple[Team, ...]
    leadership: tuple[Recipient, ...] = ()
    guideline_url: str | None = None
    thresholds: ReportThresholds = field(default_factory=ReportThresholds)

    def team(self, team_id: str) -> Team:
        for team in self.teams:
            if team.id == team_id:
                return team
        raise KeyError(team_id)

    def people(self) -> list[Person]:
        out: list[Person] = []
        for team in self.teams:
            out.append(team.manager)
            out.extend(team.sellers)
        return out


# ---------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------


class SessionState(StrEnum):
    PLANNED = "planned"  # intent written, calendar not yet confirmed
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"  # moved in the calendar; still going to happen
    HELD = "held"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    NO_SHOW = "no_show"
    UNBOOKABLE = "unbookable"  # the planner found no slot; `reason` says why

    @property
    def active(self) -> bool:
        """Expected to happen (counts against the manager's time)."""
        return self in (SessionState.PLANNED, SessionState.BOOKED, SessionState.RESCHEDULED)

    @property
    def fell_through(self) -> bool:
        return self in (SessionState.CANCELLED, SessionState.DECLINED)


#: Prefix of `SessionRecord.reason` on a cancelled session that must not be rebooked.
NO_REBOOK = "not to be rebooked: "
#: Prefix of `reason` on a session whose slot passed before its event could be created.
SLOT_PASSED = "slot passed before the calendar accepted it"
#: Prefix of `reason` on a declined session whose event was cancelled for a rebook.
SUPERSEDED = "replaced by a new attempt"


def session_key(org_id: str, manager_id: str, seller_id: str, month: Month, attempt: int) -> str:
    """Deterministic key of one booking attempt.

    `cp` + 32 hex digits: every character is in base32hex (0-9, a-v), so the key is a
    valid Google event id as it stands (5-1024 chars), a Graph transactionId, and the
    iCalendar UID stem (`<key>@coachpass`). The same inputs always give the same key,
    which is what makes booking idempotent across retries, crashes and instances.
    """
    raw = f"{org_id}\x1f{manager_id}\x1f{seller_id}\x1f{month}\x1f{attempt}".encode()
    return "cp" + hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class SessionRecord:
    """A session as the store holds it."""

    key: str
    org_id: str
    team_id: str
    manager_id: str
    seller_id: str
    month: Month
    attempt: int
    state: SessionState
    start: datetime | None = None
    end: datetime | None = None
    event_id: str | None = None
    connector: str = ""
    video_url: str | None = None
    reason: str = ""  # unbookable reason, or the last error
    note: str = ""  # manager's note after the session
    followups: str = ""  # to carry into the next session's agenda
    verified: bool = False  # held/no-show confirmed by a person or the provider
    moved: bool = False  # rescheduled at least once
    #: What the meeting provider last said about the session's meeting: an
    #: `AttendanceStatus` value, None while never answered (`sessions.attendance`).
    attendance_status: str | None = None
    attendance_detail: str = ""  # the provider's words, or why it could not tell
    attendance_checked_at: datetime | None = None  # last asked
    #: The answer was final: never asked again (a verdict, or nothing more to learn).
    attendance_settled_at: datetime | None = None


@dataclass(frozen=True)
class StateChange:
    key: str
    at: datetime
    from_state: SessionState | None
    to_state: SessionState
    detail: str = ""
