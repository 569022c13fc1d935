"""Load the YAML config (plus the optional people CSV) into typed, checked settings.

`load_settings` is the one way in: it reports every problem at once, one line each,
as `file:line: field.path: message`, and raises `ConfigError` with them; a missing
file, a YAML syntax error or an empty file is a `UserError`. Field checks live in
`settings.schema` (pydantic), checks across fields in `settings.cross`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from scheduler.errors import ConfigError
from scheduler.settings import cross, preflight
from scheduler.settings.build import (
    BUNDLED_CONFIG,
    MailSettings,
    ScheduleSettings,
    Settings,
    build_settings,
)
from scheduler.settings.checks import Problem
from scheduler.settings.people_csv import PersonRow, read_people_csv
from scheduler.settings.schema import CoachpassConfig
from scheduler.settings.yaml_lines import LoadedYaml, format_path, load_yaml_file, parse_yaml


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


#: The schema's file name, next to the config (its `yaml-language-server` line).
SCHEMA_NAME = "coachpass.schema.json"


def schema_text() -> str:
    """`json_schema()` as written to a file: `config schema`, `init` and the committed
    config/coachpass.schema.json are the same bytes."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _check(loaded: LoadedYaml, source: Path) -> Checked:
    file = str(source)
    rep = cross.Reporter(loaded, file)
    data = loaded.data
    if not isinstance(data, Mapping):
        rep.at((), "the file must be a mapping of sections (organisation:, policy:, teams:, ...)")
        return Checked(loaded, tuple(rep.problems), None, ())
    for path, _line in loaded.duplicate_keys:
        rep.at(path, f"duplicate key {path[-1]!r}: it is written twice in this mapping")

    cross.check_control_characters(data, rep)
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
        csv_path = source.resolve().parent / csv_name  # as build_settings resolves it
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
    preflight.check_connector_keys(data, rep)
    cross.check_working_days(data, entries, rep)
    cross.check_agenda_file(data, rep)
    cross.check_subdivisions(data, entries, rep)
    cross.check_store(data, rep)
    cross.check_local_calendars(data, entries)
    cross.check_leadership(data, rep)
    cross.check_secret_files(data, rep, source.resolve().parent)

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


__all__ = [
    "BUNDLED_CONFIG",
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
    "schema_text",
    "validate_file",
]
