"""The config file's shape as pydantic models: one place that declares every key, its
type, default and check, and from which the published JSON Schema is generated.

These models describe the file as written (`calendar`, `from`, times as "HH:MM").
`scheduler.settings.load` checks what spans several fields (duplicates, connector
resolution, CSV people) and turns the result into `scheduler.model` values.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from scheduler.settings import checks

# ---------------------------------------------------------------------------
# Value types
# ---------------------------------------------------------------------------


def _clock_text(value: object) -> str:
    return checks.parse_clock(value).strftime("%H:%M")


def _weekday_text(value: object) -> str:
    return checks.WEEKDAYS[checks.parse_weekday(value)]


def _connector_name(value: str) -> str:
    import connectors

    if value not in connectors.names():
        raise ValueError(f"unknown connector {value!r}: use one of {', '.join(connectors.names())}")
    return value


Clock = Annotated[
    str,
    BeforeValidator(_clock_text),
    WithJsonSchema(
        {"type": "string", "pattern": r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$", "examples": ["08:30"]}
    ),
]
Weekday = Annotated[
    str,
    BeforeValidator(_weekday_text),
    WithJsonSchema({"type": "string", "enum": list(checks.WEEKDAYS)}),
]
Timezone = Annotated[
    str,
    AfterValidator(checks.check_timezone),
    Field(description="IANA time zone, e.g. Europe/Stockholm", examples=["Europe/Stockholm"]),
]
Country = Annotated[
    str,
    AfterValidator(checks.check_country),
    Field(description="ISO 3166 alpha-2 code, for public holidays", examples=["SE"]),
]
Email = Annotated[str, AfterValidator(checks.check_email), Field(examples=["anna@acme.example"])]
Slug = Annotated[str, AfterValidator(checks.check_slug)]
Cron = Annotated[
    str,
    AfterValidator(checks.check_cron),
    Field(description="crontab expression, 5 fields: minute hour day month weekday"),
]


def _connector_schema() -> dict[str, Any]:
    import connectors

    return {"type": "string", "enum": connectors.names(), "description": "calendar back end"}


ConnectorName = Annotated[str, AfterValidator(_connector_name), WithJsonSchema(_connector_schema())]
NonEmpty = Annotated[str, Field(min_length=1)]
#: A name or other text that ends up in mail headers, iCalendar lines and the CSV.
Text = Annotated[str, AfterValidator(checks.check_text)]
Name = Annotated[str, AfterValidator(checks.check_name), Field(min_length=1)]


class _Strict(BaseModel):
    # Unknown keys are errors: a typo must not be silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _empty_list(value: object) -> object:
    # `sellers:` with nothing under it is how a new team is written by hand.
    return [] if value is None else value


def _empty_dict(value: object) -> object:
    return {} if value is None else value


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


class HoursConfig(_Strict):
    """A span of the day, e.g. preferred hours 09:00-12:00."""

    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _ordered(self) -> HoursConfig:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


class WorkingHoursConfig(_Strict):
    """Working hours; on a person, keys left out are taken from the policy."""

    start: Clock | None = None
    end: Clock | None = None
    weekdays: list[Weekday] | None = Field(default=None, min_length=1)


class PersonConfig(_Strict):
    id: Slug = Field(description="stable id; part of every session key")
    name: Name
    email: Email
    timezone: Timezone | None = Field(default=None, description="default: defaults.timezone")
    country: Country | None = Field(default=None, description="default: defaults.country")
    subdivision: Text | None = Field(default=None, description="e.g. a US state, for holidays")
    connector: ConnectorName | None = Field(
        default=None, description="default: the team's, else defaults.connector"
    )
    calendar: Text | None = Field(
        default=None,
        description="calendar id; default: e-mail (google, outlook), <id>.ics (local); for "
        "local a path inside the connector's folder",
    )
    working_hours: WorkingHoursConfig | None = None
    preferred_hours: HoursConfig | None = None


class TeamConfig(_Strict):
    id: Slug
    name: Name
    connector: ConnectorName | None = Field(default=None, description="team-wide default")
    manager: PersonConfig | None = Field(
        default=None, description="required, unless people_csv gives a row with role manager"
    )
    sellers: Annotated[list[PersonConfig], BeforeValidator(_empty_list)] = Field(
        default_factory=list
    )


def _meet_keeps_records(days: int) -> int:
    if days > 25:
        raise ValueError(
            f"{days} days is too long: Google Meet deletes attendance records 30 days "
            f"after the meeting; use at most 25"
        )
    return days


class AttendanceConfig(_Strict):
    """When the meeting provider's attendance settles a session: verified held from
    `min_minutes_together` minutes with manager and seller in the meeting together,
    verified no-show when the meeting took place without one of them or not at all."""

    min_minutes_together: int = Field(
        default=15,
        ge=1,
        le=480,
        description="minutes manager and seller must be in the meeting together (rejoins add up)",
    )
    provider_delay_minutes: int = Field(
        default=60,
        ge=0,
        le=7 * 24 * 60,
        description="how long after a session's end the provider may take to report it",
    )
    keep_asking_days: Annotated[int, AfterValidator(_meet_keeps_records)] = Field(
        default=7,
        ge=1,
        description="days after the end to keep asking (at most 25: Meet deletes records after 30)",
    )

    @model_validator(mode="after")
    def _delay_inside_window(self) -> AttendanceConfig:
        if self.provider_delay_minutes >= self.keep_asking_days * 24 * 60:
            raise ValueError(
                f"provider_delay_minutes {self.provider_delay_minutes} is not shorter than "
                f"keep_asking_days {self.keep_asking_days}: nothing would ever be asked"
            )
        return self


class PolicyConfig(_Strict):
    session_minutes: int = Field(default=45, ge=5, le=480)
    buffer_minutes: int = Field(default=10, ge=0, le=240)
    working_hours: WorkingHoursConfig = Field(
        default_factory=lambda: WorkingHoursConfig(
            start="09:00", end="17:00", weekdays=["mon", "tue", "wed", "thu", "fri"]
        )
    )
    earliest_day: int = Field(default=1, ge=1, le=31)
    latest_day: int = Field(default=28, ge=1, le=31)
    lead_time_hours: int = Field(default=48, ge=0)
    max_sessions_per_manager_day: int = Field(default=3, ge=1)
    target_minutes_per_manager_week: int = Field(default=120, ge=0)
    max_minutes_per_manager_week: int = Field(default=240, ge=1)
    sessions_per_seller: int = Field(default=1, ge=1, le=4)
    rebook_on_decline: bool = True
    rebook_on_cancel: bool = True
    blackout_dates: list[date] = Field(default_factory=list)
    preferred_hours: HoursConfig | None = None
    preferred_weekdays: list[Weekday] = Field(default_factory=list)
    slot_step_minutes: int = Field(default=15, ge=5, le=120)
    solver_time_limit_seconds: float = Field(default=10.0, gt=0, le=3600)
    online_meeting: bool = True
    video_url_template: Annotated[str, AfterValidator(checks.check_url_template)] | None = None
    agenda_file: bool = Field(
        default=True,
        description="attach the agenda (and the guidelines without guideline_url) as files; "
        "false: no files, the invite's description alone carries the agenda (Outlook: 1 "
        "$batch part per session instead of 4, or 3 with guideline_url); needs "
        "organisation.guideline_url",
    )
    attendance: AttendanceConfig = Field(default_factory=AttendanceConfig)

    @model_validator(mode="after")
    def _attendance_fits_a_session(self) -> PolicyConfig:
        # Sessions are booked session_minutes long: a longer minimum could never be
        # met, so every session would stay presumed while the legend says otherwise.
        together = self.attendance.min_minutes_together
        if together > self.session_minutes:
            raise ValueError(
                f"attendance.min_minutes_together {together} is longer than session_minutes "
                f"{self.session_minutes}: no session could ever be verified as held; use at "
                f"most {self.session_minutes}"
            )
        return self


class OrganisationConfig(_Strict):
    id: Slug = Field(description="stable slug; part of every session key: never change it")
    name: Name
    timezone: Timezone
    country: Country
    subdivision: str | None = None
    language: Annotated[
        str,
        AfterValidator(checks.check_language),
        WithJsonSchema({"type": "string", "enum": list(checks.LANGUAGES)}),
    ] = Field(default="en", description="sv or en: invites and report")
    guideline_url: Annotated[str, AfterValidator(checks.check_https_url)] | None = None


class DefaultsConfig(_Strict):
    """Per-person defaults; time zone and country default to the organisation's."""

    connector: ConnectorName = "local"
    timezone: Timezone | None = None
    country: Country | None = None
    subdivision: str | None = None


class LeaderConfig(_Strict):
    name: Annotated[str, AfterValidator(checks.check_name)] = ""
    email: Email


class SmtpConfig(_Strict):
    host: NonEmpty
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: Text | None = None
    password_env: str | None = Field(default=None, description="environment variable name")
    password_file: str | None = Field(
        default=None, description="file holding the password; readable by its owner only"
    )
    timeout: float = Field(
        default=30, gt=0, le=600, description="seconds to wait for the server's answers"
    )


class MailConfig(_Strict):
    sender: Annotated[str, AfterValidator(checks.check_sender)] = Field(
        default="Coachpass <coachpass@localhost>", alias="from"
    )
    outbox: str = Field(default="outbox", description="folder for .eml files without SMTP")
    smtp: SmtpConfig | None = Field(default=None, description="leave out: outbox only")
    # -- report delivery back end (connectors.mailers.open_report_mailer) --
    backend: Literal["smtp", "graph", "gmail", "outbox"] | None = Field(
        default=None,
        description="how reports are sent; default: smtp when smtp is set, else outbox",
    )
    graph: Annotated[dict[str, Any], BeforeValidator(_empty_dict)] | None = Field(
        default=None,
        description="Graph sendMail options (sender, ...); default: connectors.outlook's",
    )
    gmail: Annotated[dict[str, Any], BeforeValidator(_empty_dict)] | None = Field(
        default=None,
        description="Gmail API options (sender, service_account_file, ...); "
        "default: connectors.google's",
    )

    @model_validator(mode="after")
    def _backend_has_settings(self) -> MailConfig:
        if self.backend == "smtp" and self.smtp is None:
            raise ValueError("backend smtp needs the smtp section (host, port, ...)")
        return self


# -- report status thresholds (scheduler.report.kpi; printed in the report's legend) --


Percent = Annotated[int, Field(ge=0, le=100)]


class ReportConfig(_Strict):
    """Where the report's status turns green and amber, in percent."""

    coverage_green: Percent = 90
    coverage_amber: Percent = 70
    held_rate_green: Percent = 85
    held_rate_amber: Percent = 70
    minutes_amber: Percent = Field(
        default=75, description="amber from this % of policy.target_minutes_per_manager_week"
    )

    @model_validator(mode="after")
    def _amber_below_green(self) -> ReportConfig:
        for name in ("coverage", "held_rate"):
            green, amber = getattr(self, f"{name}_green"), getattr(self, f"{name}_amber")
            if amber > green:
                raise ValueError(f"{name}_amber {amber} is above {name}_green {green}")
        return self


class StoreConfig(_Strict):
    url: str = Field(
        default="sqlite:///coachpass.db",
        description="SQLAlchemy URL; a relative sqlite path is relative to this file",
    )
    url_env: str | None = Field(
        default=None, description="environment variable holding the URL (overrides url)"
    )


class ScheduleConfig(_Strict):
    timezone: Timezone | None = Field(default=None, description="default: organisation's")
    book_next_month: Cron = "0 6 20 * *"
    top_up: Cron = "0 7 * * 1-5"
    reconcile: Cron = "*/30 * * * *"
    report: Cron = "0 8 1 * *"
    remind: Cron = Field(
        default="0 8 * * *",
        description="managers' reminders to record sessions that ended; sent on working "
        "days only (policy weekdays, no public holidays)",
    )


class ServiceConfig(_Strict):
    listen: str = Field(
        default="127.0.0.1:8080",
        description="host:port where `serve` answers /healthz, /readyz and /metrics "
        "(0.0.0.0:8080 in a container; empty: off)",
    )
    standby_poll_seconds: float = Field(
        default=2.0,
        ge=0.2,
        le=60,
        description="how often a standby tries to take over (takeover time ~ this + start)",
    )


# -- the manager's page (scheduler.web) --


class SecretRefConfig(_Strict):
    """A secret kept outside the config: an environment variable or a file."""

    env: str | None = Field(default=None, description="environment variable name")
    file: str | None = Field(default=None, description="file readable by its owner only")

    @model_validator(mode="after")
    def _one_place(self) -> SecretRefConfig:
        if bool(self.env) == bool(self.file):
            raise ValueError("give one of env or file")
        return self


class WebConfig(_Strict):
    """The manager's page in `coachpass serve` and the links in managers' e-mails."""

    public_base_url: Annotated[str, AfterValidator(checks.check_public_base_url)] = Field(
        description="the page's address as managers reach it (https://, or http:// on "
        "localhost), e.g. https://coachpass.acme.example",
        examples=["https://coachpass.acme.example"],
    )
    listen: Annotated[str, AfterValidator(checks.check_web_listen)] = Field(
        default="127.0.0.1:8090",
        description="host:port where `serve` answers the page (put TLS in front of it)",
    )
    signing_key_env: str | None = Field(
        default=None, description="environment variable holding the link signing key"
    )
    signing_key_file: str | None = Field(
        default=None, description="file holding the link signing key; readable by its owner only"
    )
    previous_signing_keys: list[SecretRefConfig] = Field(
        default_factory=list,
        description="keys rotated out: links they signed still work until they expire",
    )
    link_valid_days: int = Field(
        default=45, ge=1, le=366, description="a link works until this long after the session"
    )

    @model_validator(mode="after")
    def _one_key(self) -> WebConfig:
        if bool(self.signing_key_env) == bool(self.signing_key_file):
            raise ValueError("give one of signing_key_env or signing_key_file")
        return self


class CoachpassConfig(_Strict):
    """The whole Coachpass configuration file (coachpass.yaml)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, title="Coachpass configuration"
    )

    organisation: OrganisationConfig
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    teams: Annotated[list[TeamConfig], BeforeValidator(_empty_list)] = Field(default_factory=list)
    people_csv: str | None = Field(
        default=None,
        description="CSV of more people (team,id,name,email,timezone,country,connector,"
        "calendar,role), relative to this file",
    )
    leadership: Annotated[list[LeaderConfig], BeforeValidator(_empty_list)] = Field(
        default_factory=list
    )
    connectors: dict[str, Annotated[dict[str, Any], BeforeValidator(_empty_dict)]] = Field(
        default_factory=dict,
        description="options per connector name; secrets only as <key>_env or <key>_file",
    )
    mail: MailConfig = Field(default_factory=MailConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    web: WebConfig | None = Field(
        default=None, description="the manager's page; leave out: e-mails carry no link"
    )
    guidelines_dir: str | None = Field(default=None, description="default: bundled guidelines")
    templates_dir: str | None = Field(default=None, description="default: bundled templates")
