"""Checks that span several fields of the config: duplicates, managers, connectors,
inline secrets, working days against the session length, agenda files without a
guideline link.

They run on the data as written (not on the pydantic models), so they still run when
other fields are invalid and every problem is reported in one go; a value that is
itself malformed is skipped here, because the field check already reported it.
"""

from __future__ import annotations

import re
import shlex
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from scheduler.settings import checks
from scheduler.settings.checks import Problem
from scheduler.settings.people_csv import PersonRow
from scheduler.settings.yaml_lines import LoadedYaml, PathKey, format_path

DEFAULT_WORKDAY = (time(9, 0), time(17, 0))


class Reporter:
    """Turns a YAML path into a `Problem` with the line it was written on."""

    def __init__(self, loaded: LoadedYaml, file: str) -> None:
        self.loaded = loaded
        self.file = file
        self.problems: list[Problem] = []

    def at(self, path: PathKey, message: str) -> None:
        self.problems.append(
            Problem(self.file, self.loaded.line_of(path), format_path(path), message)
        )


@dataclass(frozen=True)
class Entry:
    """A person as written, in the YAML file or a CSV row."""

    team: str
    role: str  # manager | seller
    data: Mapping[str, Any]
    report: Callable[[str | None, str], None]  # (field or None, message)
    label: str  # where, for "also at ..." messages
    team_connector: str | None = None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def strip_inline_secrets(data: Mapping[str, Any], rep: Reporter) -> dict[str, Any]:
    """Report every secret written inline under `connectors:`, `mail:` and `store:`,
    and return the data without them (so they are not also reported as unknown keys).
    The value itself is never repeated in the message."""

    def walk(value: Any, path: PathKey) -> Any:
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                name = str(key)
                if checks.SECRET_KEY.search(name) and item not in (None, ""):
                    rep.at(
                        (*path, name),
                        f"secret written inline: remove it and use {name}_env (an environment "
                        f"variable) or {name}_file (a file) instead",
                    )
                    continue
                out[key] = walk(item, (*path, name))
            return out
        if isinstance(value, list):
            return [walk(item, (*path, i)) for i, item in enumerate(value)]
        return value

    cleaned = dict(data)
    for section in ("connectors", "mail", "store"):
        if section in cleaned:
            cleaned[section] = walk(cleaned[section], (section,))
    return cleaned


def yaml_entries(data: Mapping[str, Any], rep: Reporter) -> Iterator[Entry]:
    for t, team in enumerate(_list(data.get("teams"))):
        team = _dict(team)
        team_id = str(team.get("id", f"#{t}"))
        team_connector = team.get("connector")
        people: list[tuple[str, PathKey, Any]] = []
        if isinstance(team.get("manager"), Mapping):
            people.append(("manager", ("teams", t, "manager"), team["manager"]))
        for s, seller in enumerate(_list(team.get("sellers"))):
            people.append(("seller", ("teams", t, "sellers", s), seller))
        for role, path, person in people:
            if not isinstance(person, Mapping):
                continue

            def report(field: str | None, message: str, path: PathKey = path) -> None:
                rep.at(path if field is None else (*path, field), message)

            yield Entry(team_id, role, person, report, format_path(path), team_connector)


def csv_entries(
    rows: list[PersonRow], team_connectors: Mapping[str, Any], problems: list[Problem]
) -> Iterator[Entry]:
    """Entries of CSV rows; their problems go to `problems`, named by file and line."""
    for row in rows:

        def report(field: str | None, message: str, row: PersonRow = row) -> None:
            problems.append(row.problem(field or "", message))

        yield Entry(
            row.team,
            row.role,
            row.person,
            report,
            f"{row.source}:{row.line}",
            team_connectors.get(row.team),
        )


def check_people(
    data: Mapping[str, Any], entries: list[Entry], rep: Reporter, csv_file: str | None
) -> None:
    """Team ids, managers, duplicate people and connector resolution."""
    teams = [_dict(t) for t in _list(data.get("teams"))]
    team_index: dict[str, int] = {}
    for t, team in enumerate(teams):
        team_id = team.get("id")
        if not isinstance(team_id, str):
            continue
        if team_id in team_index:
            rep.at(
                ("teams", t, "id"),
                f"team id {team_id!r} is used twice (also teams[{team_index[team_id]}])",
            )
        else:
            team_index[team_id] = t

    # Managers: from the YAML team, or one CSV row with role manager.
    managers: dict[str, Entry] = {}
    for entry in entries:
        if entry.role != "manager":
            continue
        if entry.team in managers:
            first = managers[entry.team]
            entry.report(
                "role",
                f"team {entry.team!r} already has manager {first.data.get('id')!r} ({first.label})",
            )
        else:
            managers[entry.team] = entry
    for t, team in enumerate(teams):
        if isinstance(team.get("id"), str) and team["id"] not in managers:
            where = " (or a row with role manager in the people CSV)" if csv_file else ""
            rep.at(("teams", t, "manager"), f"team {team['id']!r} has no manager: add one{where}")
    reported_teams: set[str] = set()
    for entry in entries:
        if (
            entry.team not in team_index
            and entry.team not in managers
            and entry.team not in reported_teams
        ):
            reported_teams.add(entry.team)
            entry.report("team", f"team {entry.team!r} is not in the config and has no manager row")

    # People: one id per person, one seat as seller, one e-mail per id.
    by_id: dict[str, Entry] = {}
    by_email: dict[str, Entry] = {}
    for entry in entries:
        pid, email = entry.data.get("id"), entry.data.get("email")
        if isinstance(pid, str):
            seen = by_id.get(pid)
            if seen is None:
                by_id[pid] = entry
            elif seen.role == entry.role == "seller" and seen.team != entry.team:
                entry.report(
                    "id",
                    f"seller {pid!r} is in two teams: {seen.team!r} ({seen.label}) "
                    f"and {entry.team!r}",
                )
            elif seen.role == entry.role == "manager" and seen.team != entry.team:
                # Teams are planned independently (in parallel), so a manager in two
                # teams could be booked twice at the same time.
                entry.report(
                    "id",
                    f"manager {pid!r} already leads team {seen.team!r} ({seen.label}): a "
                    "manager leads one team; merge the two teams",
                )
            else:
                entry.report("id", f"person id {pid!r} is used twice (also {seen.label})")
        if isinstance(email, str) and isinstance(pid, str):
            other = by_email.get(email.lower())
            if other is None:
                by_email[email.lower()] = entry
            elif other.data.get("id") != pid:
                entry.report(
                    "email",
                    f"duplicate email {email!r} (also {other.data.get('id')!r}, {other.label})",
                )


def check_connectors(data: Mapping[str, Any], entries: list[Entry], rep: Reporter) -> None:
    """Every connector a person ends up with must be configured under `connectors:`;
    the problem is named where the choice was made (person, team or defaults)."""
    import connectors

    configured = data.get("connectors")
    if not isinstance(configured, Mapping):
        configured = {}
    for name in configured:
        if str(name) not in connectors.names():
            rep.at(
                ("connectors", str(name)),
                f"unknown connector {name!r}"
                + (
                    checks.suggest(str(name), connectors.names())
                    or f": use one of {', '.join(connectors.names())}"
                ),
            )
    default = _dict(data.get("defaults")).get("connector", "local")
    reported: set[tuple[str, str]] = set()
    teams = _list(data.get("teams"))
    for entry in entries:
        chosen = entry.data.get("connector")
        if chosen:
            origin: tuple[str, str] = ("person", entry.label)
        elif entry.team_connector:
            chosen, origin = entry.team_connector, ("team", entry.team)
        else:
            chosen, origin = default, ("defaults", "")
        if not isinstance(chosen, str) or chosen not in connectors.names():
            continue  # an unknown name is reported by the field check
        if chosen in configured or (chosen, origin[1]) in reported:
            continue
        reported.add((chosen, origin[1]))
        message = f"connector {chosen!r} is not configured under connectors:"
        if origin[0] == "person":
            entry.report("connector", message)
        elif origin[0] == "team":
            t = next(
                (i for i, team in enumerate(teams) if _dict(team).get("id") == entry.team), None
            )
            if t is None:
                entry.report("connector", message)
            else:
                rep.at(("teams", t, "connector"), message)
        else:
            rep.at(("defaults", "connector"), message)


def _clock(value: Any, fallback: time) -> time | None:
    if value is None:
        return fallback
    try:
        return checks.parse_clock(value)
    except ValueError:
        return None


def _span(start: time, end: time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


def check_working_days(data: Mapping[str, Any], entries: list[Entry], rep: Reporter) -> None:
    """A session must fit in the working day: the policy's and each person's."""
    policy = _dict(data.get("policy"))
    _check_policy_order(policy, rep)
    minutes = policy.get("session_minutes", 45)
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        return
    hours = _dict(policy.get("working_hours"))
    start = _clock(hours.get("start"), DEFAULT_WORKDAY[0])
    end = _clock(hours.get("end"), DEFAULT_WORKDAY[1])
    if start is None or end is None:
        return
    if end <= start:
        rep.at(("policy", "working_hours"), f"end {end:%H:%M} is not after start {start:%H:%M}")
        return
    if _span(start, end) < minutes:
        rep.at(
            ("policy", "session_minutes"),
            f"a session of {minutes} minutes is longer than the working day "
            f"{start:%H:%M}-{end:%H:%M} ({_span(start, end)} minutes)",
        )
        return
    for entry in entries:
        own = entry.data.get("working_hours")
        if not isinstance(own, Mapping):
            continue
        p_start, p_end = _clock(own.get("start"), start), _clock(own.get("end"), end)
        if p_start is None or p_end is None:
            continue
        if p_end <= p_start:
            entry.report("working_hours", f"end {p_end:%H:%M} is not after start {p_start:%H:%M}")
        elif _span(p_start, p_end) < minutes:
            entry.report(
                "working_hours",
                f"the working day {p_start:%H:%M}-{p_end:%H:%M} ({_span(p_start, p_end)} "
                f"minutes) is shorter than a session ({minutes} minutes)",
            )


def _int(value: Any, default: int) -> int | None:
    if value is None:
        return default
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_policy_order(policy: Mapping[str, Any], rep: Reporter) -> None:
    earliest, latest = _int(policy.get("earliest_day"), 1), _int(policy.get("latest_day"), 28)
    if earliest is not None and latest is not None and latest < earliest:
        rep.at(("policy", "latest_day"), f"latest_day {latest} is before earliest_day {earliest}")
    target = _int(policy.get("target_minutes_per_manager_week"), 120)
    most = _int(policy.get("max_minutes_per_manager_week"), 240)
    session = _int(policy.get("session_minutes"), 45)
    if most is not None and session is not None and most < session:
        rep.at(
            ("policy", "max_minutes_per_manager_week"),
            f"{most} is below one session (session_minutes {session}): no session could "
            "ever be booked",
        )
    elif target is not None and most is not None and most < target:
        rep.at(
            ("policy", "max_minutes_per_manager_week"),
            f"{most} is below target_minutes_per_manager_week {target}",
        )


def check_agenda_file(data: Mapping[str, Any], rep: Reporter) -> None:
    """Without files the guidelines reach the invite only through their link: the
    agenda's guideline line would otherwise say "attached" about nothing."""
    policy = _dict(data.get("policy"))
    if policy.get("agenda_file") is not False:
        return
    url = _dict(data.get("organisation")).get("guideline_url")
    if isinstance(url, str) and url:
        return
    rep.at(
        ("policy", "agenda_file"),
        "false needs organisation.guideline_url: without files the written guidelines "
        "reach the invite only as a link; set guideline_url, or agenda_file: true",
    )


def check_subdivisions(data: Mapping[str, Any], entries: list[Entry], rep: Reporter) -> None:
    org = _dict(data.get("organisation"))
    defaults = _dict(data.get("defaults"))
    org_country = org.get("country")
    default_country = defaults.get("country") or org_country

    def check(country: Any, sub: Any, report: Callable[[str], None]) -> None:
        if not isinstance(country, str) or not isinstance(sub, str):
            return
        try:
            checks.check_country(country)
        except ValueError:
            return  # reported by the field check
        try:
            checks.check_subdivision(country, sub)
        except ValueError as exc:
            report(str(exc))

    check(org_country, org.get("subdivision"), lambda m: rep.at(("organisation", "subdivision"), m))
    check(
        default_country,
        defaults.get("subdivision"),
        lambda m: rep.at(("defaults", "subdivision"), m),
    )
    for entry in entries:
        country = entry.data.get("country") or default_country
        check(
            country,
            entry.data.get("subdivision"),
            lambda m, e=entry: e.report("subdivision", m),  # type: ignore[misc]
        )


def check_store(data: Mapping[str, Any], rep: Reporter) -> None:
    url = _dict(data.get("store")).get("url")
    if not isinstance(url, str):
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        rep.at(("store", "url"), "not a database URL (e.g. sqlite:///coachpass.db)")
        return
    if parsed.password:
        rep.at(
            ("store", "url"),
            "the URL holds a password: leave it out and use PGPASSWORD or ~/.pgpass, "
            "or put the whole URL in an environment variable named by store.url_env",
        )
    if not parsed.drivername.startswith(("sqlite", "postgresql")):
        rep.at(
            ("store", "url"),
            f"unsupported database {parsed.drivername!r}: use sqlite or postgresql",
        )


def check_control_characters(data: Any, rep: Reporter) -> None:
    """No control character in any key or text of the file: a line break in a name
    would end a mail header or an iCalendar line early and inject the rest."""

    def walk(value: Any, path: PathKey) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                child = (*path, str(key))
                code = checks.control_character(str(key))
                if code is not None:
                    rep.at(child, checks.control_message(code))
                walk(item, child)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))
        elif isinstance(value, str):
            code = checks.control_character(value)
            if code is not None:
                rep.at(path, checks.control_message(code))

    walk(data, ())


def check_local_calendars(data: Mapping[str, Any], entries: list[Entry]) -> None:
    """A local connector's calendar is a file in its folder, never elsewhere."""
    default = _dict(data.get("defaults")).get("connector", "local")
    for entry in entries:
        calendar = entry.data.get("calendar")
        chosen = entry.data.get("connector") or entry.team_connector or default
        if chosen != "local" or not isinstance(calendar, str):
            continue
        try:
            checks.check_local_calendar(calendar)
        except ValueError as exc:
            entry.report("calendar", str(exc))


def check_leadership(data: Mapping[str, Any], rep: Reporter) -> None:
    """`leadership:` written with nobody under it is a report sent to no one."""
    if "leadership" in data and data["leadership"] in (None, []):
        rep.at(
            ("leadership",),
            "no recipients: list who gets the monthly report (- {name: ..., email: ...}), "
            "or remove the key",
        )


#: Option names (before `_file`) of files that hold a secret or a key.
_SECRET_FILES = re.compile(
    r"(?:^|_)(?:password|secret|secrets|private_key|api_key|token|token_cache|"
    r"service_account|certificate|credentials)$"
)


def check_secret_files(data: Mapping[str, Any], rep: Reporter, base_dir: Path) -> None:
    """A secret file others can read is refused, as ssh refuses such a key: the fix
    is one chmod. Files that do not exist (yet) are left to the connectors, which
    say so when they need them."""
    places: list[tuple[PathKey, Any]] = []
    smtp = _dict(_dict(data.get("mail")).get("smtp"))
    places.append((("mail", "smtp", "password_file"), smtp.get("password_file")))
    web = _dict(data.get("web"))
    places.append((("web", "signing_key_file"), web.get("signing_key_file")))
    for n, previous in enumerate(_list(web.get("previous_signing_keys"))):
        places.append((("web", "previous_signing_keys", n, "file"), _dict(previous).get("file")))
    for name, options in _dict(data.get("connectors")).items():
        for key, value in _dict(options).items():
            key = str(key)
            if key.endswith("_file") and _SECRET_FILES.search(key.removesuffix("_file")):
                places.append((("connectors", str(name), key), value))
    for path, value in places:
        if not isinstance(value, str) or not value:
            continue
        file = Path(value).expanduser()
        file = file if file.is_absolute() else base_dir / file
        try:
            mode = file.stat().st_mode
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(mode) and mode & stat.S_IROTH:
            rep.at(
                path,
                f"{file} is readable by every user of this machine "
                f"(mode {stat.S_IMODE(mode):04o}): run chmod 600 {shlex.quote(str(file))}",
            )
