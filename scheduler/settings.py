"""Load the YAML config (plus the optional people CSV) into typed, checked settings.

`load_settings` is the one way in: it reports every problem at once, one line each,
as `file:line: field.path: message`, and raises `ConfigError` with them; a missing
file, a YAML syntax error or an empty file is a `UserError`. Field checks live in
`settings_model` (pydantic), checks across fields in `settings_cross`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from scheduler import settings_checks as checks
from scheduler import settings_cross as cross
from scheduler.errors import ConfigError, UserError
from scheduler.model import Organisation, Person, Policy, Recipient, Team, WorkingHours
from scheduler.people_io import PersonRow, read_people_csv
from scheduler.settings_checks import Problem
from scheduler.settings_model import (
    CoachpassConfig,
    HoursConfig,
    PersonConfig,
    WorkingHoursConfig,
)
from scheduler.yaml_lines import LoadedYaml, format_path, load_yaml_file, parse_yaml

#: The repository's `config/` folder: bundled guidelines and templates.
BUNDLED_CONFIG = Path(__file__).resolve().parent.parent / "config"


@dataclass(frozen=True, kw_only=True)
class MailSettings:
    sender: str  # "Coachpass <coachpass@acme.example>"
    smtp_host: str | None = None  # None -> outbox only
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | ssl | none
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    smtp_password_file: Path | None = None
    outbox: Path  # resolved absolute


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: str
    book_next_month: str = "0 6 20 * *"  # cron, 5 fields
    top_up: str = "0 7 * * 1-5"
    reconcile: str = "*/30 * * * *"
    report: str = "0 8 1 * *"


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


@dataclass(frozen=True)
class Checked:
    """Result of checking a config text: every problem, and the parts when valid."""

    loaded: LoadedYaml
    problems: tuple[Problem, ...]
    config: CoachpassConfig | None
    csv_rows: tuple[PersonRow, ...]

    @property
    def messages(self) -> list[str]:
        return [str(p) for p in self.problems]


# ---------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------


def check_text(text: str, source: Path) -> Checked:
    """Check a config's text as if it were the file `source` (relative paths such as
    `people_csv` resolve against its folder). Used by the editing commands to vet a
    change before it is written."""
    return _check(parse_yaml(text, source), source)


def check_file(path: Path) -> Checked:
    return _check(load_yaml_file(path), path)


def validate_file(path: Path) -> list[str]:
    """Problems of the config file, one line each; [] when it is valid.
    A missing, unreadable, empty or unparsable file raises `UserError`."""
    return check_file(path).messages


def load_settings(path: Path) -> Settings:
    """Read, check and resolve the config. Raises `ConfigError(problems)` or `UserError`."""
    checked = check_file(path)
    if checked.problems or checked.config is None:
        raise ConfigError(checked.messages)
    return build_settings(checked.config, checked.csv_rows, path)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config file, for editors (`coachpass config schema`)."""
    schema = CoachpassConfig.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }


def _check(loaded: LoadedYaml, source: Path) -> Checked:
    file = str(source)
    rep = cross.Reporter(loaded, file)
    data = loaded.data
    if not isinstance(data, Mapping):
        rep.at((), "the file must be a mapping of sections (organisation:, policy:, teams:, ...)")
        return Checked(loaded, tuple(rep.problems), None, ())
    for path, _line in loaded.duplicate_keys:
        rep.at(path, f"duplicate key {path[-1]!r}: it is written twice in this mapping")

    cleaned = cross.strip_inline_secrets(data, rep)
    config: CoachpassConfig | None = None
    try:
        config = CoachpassConfig.model_validate(cleaned)
    except ValidationError as exc:
        _pydantic_problems(exc, rep)

    csv_rows: list[PersonRow] = []
    csv_problems: list[Problem] = []
    csv_name = data.get("people_csv")
    if isinstance(csv_name, str) and csv_name:
        csv_path = source.parent / csv_name
        if csv_path.is_file():
            csv_rows, csv_problems = read_people_csv(
                csv_path, display=str(Path(file).parent / csv_name)
            )
        else:
            rep.at(("people_csv",), f"no such file: {csv_path.resolve()}")

    team_connectors = {
        str(t.get("id")): t.get("connector")
        for t in data.get("teams") or []
        if isinstance(t, Mapping)
    }
    entries = list(cross.yaml_entries(data, rep))
    entries += list(cross.csv_entries(csv_rows, team_connectors, csv_problems))
    cross.check_people(data, entries, rep, csv_name if isinstance(csv_name, str) else None)
    cross.check_connectors(data, entries, rep)
    cross.check_working_days(data, entries, rep)
    cross.check_subdivisions(data, entries, rep)
    cross.check_store(data, rep)

    problems = _unique(rep.problems) + _unique(csv_problems)
    problems.sort(key=lambda p: (p.file != file, p.file, p.line or 0))
    return Checked(loaded, tuple(problems), None if problems else config, tuple(csv_rows))


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _pydantic_problems(exc: ValidationError, rep: cross.Reporter) -> None:
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            rep.at(loc, _unknown_key(loc))
            continue
        if kind == "missing":
            message = "required field is missing"
        elif kind in ("value_error", "assertion_error"):
            message = str(error["msg"]).removeprefix("Value error, ")
        else:
            text = str(error["msg"])
            message = text[:1].lower() + text[1:]
            value = error.get("input")
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                message += f" (got {value!r})"
        rep.at(loc, message)


def _unknown_key(loc: tuple[Any, ...]) -> str:
    key = str(loc[-1])
    model = _model_at(loc[:-1])
    known = [f.alias or name for name, f in model.model_fields.items()] if model is not None else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint}"


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = CoachpassConfig
    for part in path:
        if isinstance(part, int):
            continue  # a list item: same model
        if current is None:
            return None
        found = next(
            (f for name, f in current.model_fields.items() if (f.alias or name) == part), None
        )
        current = _inner_model(found.annotation) if found is not None else None
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None


# ---------------------------------------------------------------------------
# Building the domain values
# ---------------------------------------------------------------------------


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
        smtp_password_file=(
            (base_dir / smtp.password_file).resolve() if smtp and smtp.password_file else None
        ),
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
    )


__all__ = [
    "Checked",
    "MailSettings",
    "ScheduleSettings",
    "Settings",
    "build_settings",
    "check_file",
    "check_text",
    "format_path",
    "json_schema",
    "load_settings",
    "validate_file",
]
