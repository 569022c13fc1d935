"""Resolve a checked config into `Settings`: defaults filled in, paths made absolute,
people turned into `scheduler.model` values (connector: person > team > defaults;
calendar id: the e-mail for providers, `<id>.ics` for the local connector).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from scheduler.errors import UserError
from scheduler.model import (
    AttendancePolicy,
    Organisation,
    Person,
    Policy,
    Recipient,
    ReportThresholds,
    Team,
    WorkingHours,
)
from scheduler.settings import checks
from scheduler.settings.people_csv import PersonRow
from scheduler.settings.schema import (
    CoachpassConfig,
    HoursConfig,
    PersonConfig,
    WorkingHoursConfig,
)


#: The repository's `config/` folder: bundled guidelines and templates.
def _bundled_config() -> Path:
    """config/ of the source tree (editable install, checkout), else the copy a
    regular install put under <prefix>/share/coachpass/config."""
    source = Path(__file__).resolve().parents[2] / "config"
    if (source / "templates").is_dir():
        return source
    return Path(sys.prefix) / "share" / "coachpass" / "config"


BUNDLED_CONFIG = _bundled_config()


@dataclass(frozen=True, kw_only=True)
class MailSettings:
    sender: str  # "Coachpass <coachpass@acme.example>"
    smtp_host: str | None = None  # None -> outbox only
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | ssl | none
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    smtp_password_file: Path | None = None
    smtp_timeout: float = 30  # seconds
    outbox: Path  # resolved absolute
    backend: str = "outbox"  # smtp | graph | gmail | outbox
    # graph/gmail: the outlook/google connector's options, then mail.graph/mail.gmail's.
    provider_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: str
    book_next_month: str = "0 6 20 * *"  # cron, 5 fields
    top_up: str = "0 7 * * 1-5"
    reconcile: str = "*/30 * * * *"
    report: str = "0 8 1 * *"
    remind: str = "0 8 * * *"


@dataclass(frozen=True)
class ServiceSettings:
    listen: str = "127.0.0.1:8080"  # host:port of the health and metrics endpoints; "" off
    standby_poll_seconds: float = 2.0


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    """The manager's page (`scheduler.web`); secrets stay references until used."""

    public_base_url: str  # no trailing slash
    listen: str = "127.0.0.1:8090"
    signing_key: Mapping[str, Any]  # {"signing_key_env": ...} or {"signing_key_file": ...}
    previous_keys: tuple[Mapping[str, Any], ...] = ()  # same shape, name "signing_key"
    link_valid_days: int = 45


@dataclass(frozen=True)
class Settings:
    source: Path  # the YAML file
    base_dir: Path  # its folder: relative paths resolve against it
    organisation: Organisation
    connectors: Mapping[str, Mapping[str, Any]]  # name -> options (paths left as written)
    mail: MailSettings
    store_url: str  # sqlite URL made absolute against base_dir
    schedule: ScheduleSettings
    guidelines_dir: Path
    templates_dir: Path
    outbox: Path
    people_csv: Path | None = None
    team_of: Mapping[str, str] = field(default_factory=dict)  # seller id -> team id
    service: ServiceSettings = field(default_factory=ServiceSettings)
    web: WebSettings | None = None  # None: no page, e-mails carry no link


def _hours(config: HoursConfig | None) -> tuple[Any, Any] | None:
    if config is None:
        return None
    return (checks.parse_clock(config.start), checks.parse_clock(config.end))


def _working_hours(config: WorkingHoursConfig | None, base: WorkingHours) -> WorkingHours:
    if config is None:
        return base
    return WorkingHours(
        start=checks.parse_clock(config.start) if config.start else base.start,
        end=checks.parse_clock(config.end) if config.end else base.end,
        weekdays=(
            frozenset(checks.parse_weekday(d) for d in config.weekdays)
            if config.weekdays
            else base.weekdays
        ),
    )


def _policy(config: CoachpassConfig) -> Policy:
    p = config.policy
    return Policy(
        session_minutes=p.session_minutes,
        buffer_minutes=p.buffer_minutes,
        working_hours=_working_hours(p.working_hours, WorkingHours()),
        earliest_day=p.earliest_day,
        latest_day=p.latest_day,
        lead_time_hours=p.lead_time_hours,
        max_sessions_per_manager_day=p.max_sessions_per_manager_day,
        target_minutes_per_manager_week=p.target_minutes_per_manager_week,
        max_minutes_per_manager_week=p.max_minutes_per_manager_week,
        sessions_per_seller=p.sessions_per_seller,
        rebook_on_decline=p.rebook_on_decline,
        rebook_on_cancel=p.rebook_on_cancel,
        blackout_dates=frozenset(p.blackout_dates),
        preferred_hours=_hours(p.preferred_hours),
        preferred_weekdays=frozenset(checks.parse_weekday(d) for d in p.preferred_weekdays),
        slot_step_minutes=p.slot_step_minutes,
        solver_time_limit_seconds=p.solver_time_limit_seconds,
        online_meeting=p.online_meeting,
        video_url_template=p.video_url_template,
        agenda_file=p.agenda_file,
        attendance=AttendancePolicy(
            min_minutes_together=p.attendance.min_minutes_together,
            provider_delay_minutes=p.attendance.provider_delay_minutes,
            keep_asking_days=p.attendance.keep_asking_days,
        ),
    )


def _person(
    pc: PersonConfig, team_connector: str | None, config: CoachpassConfig, policy: Policy
) -> Person:
    org, defaults = config.organisation, config.defaults
    connector = pc.connector or team_connector or defaults.connector
    default_country = defaults.country or org.country
    country = pc.country or default_country
    if pc.subdivision:
        subdivision: str | None = pc.subdivision
    elif country == default_country:
        subdivision = defaults.subdivision or (
            org.subdivision if default_country == org.country else None
        )
    else:
        subdivision = None
    return Person(
        id=pc.id,
        name=pc.name,
        email=pc.email,
        timezone=pc.timezone or defaults.timezone or org.timezone,
        country=country,
        connector=connector,
        # Providers address a calendar by its owner's mailbox; the local connector
        # by a file in its folder.
        calendar_id=pc.calendar or (f"{pc.id}.ics" if connector == "local" else pc.email),
        subdivision=subdivision,
        working_hours=(
            _working_hours(pc.working_hours, policy.working_hours) if pc.working_hours else None
        ),
        preferred_hours=_hours(pc.preferred_hours),
    )


def _store_url(config: CoachpassConfig, base_dir: Path) -> str:
    from sqlalchemy.engine import make_url

    text = config.store.url
    if config.store.url_env:
        text = os.environ.get(config.store.url_env, "")
        if not text:
            raise UserError(
                f"environment variable {config.store.url_env} (store.url_env) is not set"
            )
    url = make_url(text)
    database = url.database
    if url.drivername.startswith("sqlite") and database and database != ":memory:":
        path = Path(database).expanduser()
        if not path.is_absolute():
            url = url.set(database=str((base_dir / path).resolve()))
    return url.render_as_string(hide_password=False)


def _provider_options(config: CoachpassConfig) -> dict[str, Any]:
    """Graph and Gmail mailers use the calendar connector's app registration or service
    account unless mail.graph / mail.gmail says otherwise; the sender defaults to the
    address of mail.from."""
    mail = config.mail
    if mail.backend == "graph":
        base, own = config.connectors.get("outlook") or {}, mail.graph or {}
    elif mail.backend == "gmail":
        base, own = config.connectors.get("google") or {}, mail.gmail or {}
    else:
        return {}
    options = {**base, **own}
    options.setdefault("sender", parseaddr(mail.sender)[1])
    return options


def _thresholds(config: CoachpassConfig) -> ReportThresholds:
    r = config.report
    return ReportThresholds(
        coverage_green=r.coverage_green / 100,
        coverage_amber=r.coverage_amber / 100,
        held_rate_green=r.held_rate_green / 100,
        held_rate_amber=r.held_rate_amber / 100,
        minutes_amber_share=r.minutes_amber / 100,
    )


def build_settings(
    config: CoachpassConfig, csv_rows: tuple[PersonRow, ...] | list[PersonRow], source: Path
) -> Settings:
    """Resolve defaults and paths of a checked config into `Settings`."""
    base_dir = source.resolve().parent
    policy = _policy(config)
    team_specs: dict[str, dict[str, Any]] = {}
    for team in config.teams:
        team_specs[team.id] = {
            "name": team.name,
            "connector": team.connector,
            "manager": team.manager,
            "sellers": list(team.sellers),
        }
    for row in csv_rows:
        spec = team_specs.setdefault(
            row.team, {"name": row.team, "connector": None, "manager": None, "sellers": []}
        )
        person = PersonConfig.model_validate(dict(row.person))
        if row.role == "manager":
            spec["manager"] = person
        else:
            spec["sellers"].append(person)
    teams: list[Team] = []
    team_of: dict[str, str] = {}
    for team_id, spec in team_specs.items():
        manager = _person(spec["manager"], spec["connector"], config, policy)
        sellers = tuple(_person(s, spec["connector"], config, policy) for s in spec["sellers"])
        teams.append(Team(team_id, spec["name"], manager, sellers))
        team_of.update((s.id, team_id) for s in sellers)
    org = config.organisation
    organisation = Organisation(
        id=org.id,
        name=org.name,
        timezone=org.timezone,
        country=org.country,
        language=org.language,
        policy=policy,
        teams=tuple(teams),
        leadership=tuple(Recipient(r.email, r.name) for r in config.leadership),
        guideline_url=org.guideline_url,
        thresholds=_thresholds(config),
    )
    mail = config.mail
    outbox = (base_dir / mail.outbox).resolve()
    smtp = mail.smtp
    mail_settings = MailSettings(
        sender=mail.sender,
        outbox=outbox,
        smtp_host=smtp.host if smtp else None,
        smtp_port=smtp.port if smtp else 587,
        smtp_security=smtp.security if smtp else "starttls",
        smtp_username=smtp.username if smtp else None,
        smtp_password_env=smtp.password_env if smtp else None,
        smtp_timeout=smtp.timeout if smtp else 30,
        smtp_password_file=(
            (base_dir / smtp.password_file).resolve() if smtp and smtp.password_file else None
        ),
        backend=mail.backend or ("smtp" if smtp else "outbox"),
        provider_options=_provider_options(config),
    )
    sched = config.schedule
    return Settings(
        source=source,
        base_dir=base_dir,
        organisation=organisation,
        connectors={name: dict(opts) for name, opts in config.connectors.items()},
        mail=mail_settings,
        store_url=_store_url(config, base_dir),
        schedule=ScheduleSettings(
            timezone=sched.timezone or org.timezone,
            book_next_month=sched.book_next_month,
            top_up=sched.top_up,
            reconcile=sched.reconcile,
            report=sched.report,
            remind=sched.remind,
        ),
        guidelines_dir=(
            (base_dir / config.guidelines_dir).resolve()
            if config.guidelines_dir
            else BUNDLED_CONFIG / "guidelines"
        ),
        templates_dir=(
            (base_dir / config.templates_dir).resolve()
            if config.templates_dir
            else BUNDLED_CONFIG / "templates"
        ),
        outbox=outbox,
        people_csv=(base_dir / config.people_csv).resolve() if config.people_csv else None,
        team_of=team_of,
        service=ServiceSettings(
            listen=config.service.listen.strip(),
            standby_poll_seconds=config.service.standby_poll_seconds,
        ),
        web=_web(config, base_dir),
    )


def _web(config: CoachpassConfig, base_dir: Path) -> WebSettings | None:
    web = config.web
    if web is None:
        return None

    def ref(env: str | None, file: str | None) -> dict[str, Any]:
        if env:
            return {"signing_key_env": env}
        return {"signing_key_file": str((base_dir / Path(file or "").expanduser()).resolve())}

    return WebSettings(
        public_base_url=web.public_base_url,
        listen=web.listen.strip(),
        signing_key=ref(web.signing_key_env, web.signing_key_file),
        previous_keys=tuple(ref(k.env, k.file) for k in web.previous_signing_keys),
        link_valid_days=web.link_valid_days,
    )
