"""People as CSV: the `people_csv:` file of the config, `people import` and export.

Columns: team,id,name,email,timezone,country,connector,calendar,role,subdivision.
`id`, `name` and `email` are required; `team` unless a default team is given; empty
cells mean "use the default". `role` is `seller` (the default) or `manager`. Every
row is checked before anything is used, and each problem names file, line and column.
Spreadsheet exports are accepted as they come: a UTF-8 byte-order mark, `;` as the
separator (Swedish Excel) and column names in any case or order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from scheduler.errors import ConfigError, UserError
from scheduler.settings.checks import Problem, check_slug
from scheduler.settings.spreadsheet import as_text, from_text

COLUMNS = (
    "team",
    "id",
    "name",
    "email",
    "timezone",
    "country",
    "connector",
    "calendar",
    "role",
    "subdivision",
)
REQUIRED = ("id", "name", "email")
ROLES = ("seller", "manager")
#: Columns that become keys of a person in the YAML file.
PERSON_KEYS = ("id", "name", "email", "timezone", "country", "subdivision", "connector", "calendar")


@dataclass(frozen=True)
class PersonRow:
    """One checked CSV row. `person` holds only the cells that were filled in, under
    the keys a person has in the YAML file."""

    source: str
    line: int
    team: str
    role: str
    person: Mapping[str, str]

    def problem(self, column: str, message: str) -> Problem:
        return Problem(self.source, self.line, column, message)


def _delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def parse_people_csv(
    text: str, source: str, *, default_team: str | None = None
) -> tuple[list[PersonRow], list[Problem]]:
    """Check every row of `text`; returns the good rows and every problem found."""
    from scheduler.settings.schema import PersonConfig  # the one definition of a person

    text = text.removeprefix("\ufeff")
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(first_line))
    problems: list[Problem] = []
    try:
        header = next(reader)
    except StopIteration:
        return [], [Problem(source, None, "", "the file is empty; expected a header row")]
    columns = [h.strip().lower() for h in header]
    for name in columns:
        if name and name not in COLUMNS:
            problems.append(
                Problem(source, 1, name, f"unknown column; columns are {', '.join(COLUMNS)}")
            )
    needed = REQUIRED if default_team else ("team", *REQUIRED)
    for name in needed:
        if name not in columns:
            problems.append(Problem(source, 1, name, "required column is missing"))
    if problems:
        return [], problems

    rows: list[PersonRow] = []
    previous_end = 1
    for record in reader:
        line = previous_end + 1
        previous_end = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines are common at the end of exports
        if len(record) > len(columns):
            problems.append(
                Problem(source, line, "", f"{len(record)} cells but {len(columns)} columns")
            )
            continue
        cells = {
            name: from_text(cell.strip())
            for name, cell in zip(columns, record, strict=False)
            if name
        }
        row_problems: list[Problem] = []
        team = cells.get("team") or default_team or ""
        if not team:
            row_problems.append(Problem(source, line, "team", "empty; name the person's team"))
        else:
            # A team id becomes a team (and its name) when a manager row brings it.
            try:
                check_slug(team)
            except ValueError as exc:
                row_problems.append(Problem(source, line, "team", str(exc)))
        role = (cells.get("role") or "seller").lower()
        if role not in ROLES:
            row_problems.append(
                Problem(source, line, "role", f"unknown role {role!r}: use seller or manager")
            )
        person = {key: cells[key] for key in PERSON_KEYS if cells.get(key)}
        for key in REQUIRED:
            if key not in person:
                row_problems.append(Problem(source, line, key, "empty; this column is required"))
        try:
            PersonConfig.model_validate(person)
        except ValidationError as exc:
            for error in exc.errors():
                column = str(error["loc"][0]) if error["loc"] else ""
                if error["type"] == "missing":
                    continue  # reported above with the column name
                message = str(error["msg"]).removeprefix("Value error, ")
                row_problems.append(Problem(source, line, column, message))
        problems.extend(row_problems)
        if not row_problems:
            rows.append(PersonRow(source, line, team, role, person))
    return rows, problems


def read_people_csv(
    path: Path, *, default_team: str | None = None, display: str | None = None
) -> tuple[list[PersonRow], list[Problem]]:
    """`parse_people_csv` of a file; a file that cannot be read is a `UserError`."""
    from scheduler.settings.yaml_lines import utf8_text

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{display or path}: no such CSV file") from None
    except OSError as exc:
        raise UserError(f"{display or path}: cannot read: {exc.strerror}") from None
    text = utf8_text(raw, display or str(path))
    return parse_people_csv(text, display or str(path), default_team=default_team)


def duplicate_problems(rows: Iterable[PersonRow]) -> list[Problem]:
    """Ids and e-mails given twice inside one CSV file, named at the later row."""
    problems: list[Problem] = []
    ids: dict[str, PersonRow] = {}
    emails: dict[str, PersonRow] = {}
    for row in rows:
        pid, email = row.person["id"], row.person["email"].lower()
        first = ids.get(pid)
        if first is not None:
            problems.append(row.problem("id", f"{pid!r} is used twice (also on line {first.line})"))
        else:
            ids[pid] = row
        other = emails.get(email)
        if other is not None and other.person["id"] != pid:
            problems.append(
                row.problem(
                    "email",
                    f"duplicate email {row.person['email']!r} "
                    f"(also {other.person['id']!r} on line {other.line})",
                )
            )
        else:
            emails.setdefault(email, row)
    return problems


def load_people_csv(path: Path, *, default_team: str | None = None) -> list[PersonRow]:
    """Rows of a CSV file to import; any problem raises `ConfigError` listing them all."""
    rows, problems = read_people_csv(path, default_team=default_team)
    problems += duplicate_problems(rows)
    if problems:
        raise ConfigError([str(p) for p in sorted(problems, key=_order)])
    return rows


def _order(problem: Problem) -> tuple[int, str]:
    return (problem.line or 0, problem.path)


def write_people_csv(records: Iterable[Mapping[str, str | None]], stream: TextIO) -> None:
    """Write people (dicts keyed by `COLUMNS`) in the format `parse_people_csv` reads."""
    writer = csv.DictWriter(stream, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else as_text(v)) for k, v in record.items()})
