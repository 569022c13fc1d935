"""`coachpass config|teams|people ...`: parse options, call one controller, echo.

The bodies live in `scheduler.settings.admin` and `scheduler.settings.load`; errors are raised as
`UserError` / `ConfigError` and printed by the one handler in `scheduler.cli.main`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from scheduler.cli.common import (
    CliState,
    echo_json,
    echo_table,
    email_address,
    json_option,
    pass_state,
    plain_text,
)
from scheduler.errors import ConfigError, UserError
from scheduler.settings import admin, preflight
from scheduler.settings.load import build_settings, check_file, schema_text
from scheduler.settings.people_csv import write_people_csv

EDIT_NOTE = (
    "The config file is edited in place: comments, quotes and layout are kept and the "
    "previous file is kept as <file>.bak. Edits take turns (a lock beside the file), "
    "nothing is written if the result would not validate, and a file saved by someone "
    "else meanwhile is not overwritten."
)


# -- config ---------------------------------------------------------------------


@click.group("config")
def config_group() -> None:
    """Check the configuration file and publish its JSON Schema."""


@config_group.command("validate")
@click.option(
    "--online",
    is_flag=True,
    help="Also run `connectors check` for every connector: sign in, read every calendar "
    "and create and delete a probe event in each organiser's.",
)
@pass_state
def config_validate(state: CliState, online: bool) -> None:
    """Check the config (and its people CSV): one line per problem with file, line
    and field; exit code 2 when anything is wrong.

    Besides the file itself it checks what it can without the network: secrets
    resolvable (environment variables set, files present; values never shown),
    service-account key parseable and delegated, calendar folders and files present,
    connector option keys known. With --online a failing connector exits 3."""
    checked = check_file(state.config_path)
    if checked.problems or checked.config is None:
        raise ConfigError(checked.messages)
    # Building resolves what the file alone cannot show (e.g. store.url_env unset).
    settings = build_settings(checked.config, checked.csv_rows, state.config_path)
    problems = preflight.run(checked.loaded, settings)
    if problems:
        raise ConfigError(problems)
    teams = settings.organisation.teams
    sellers = sum(len(t.sellers) for t in teams)
    click.echo(f"OK: {state.config_path}: {len(teams)} teams, {sellers} sellers")
    if online:
        from scheduler.cli.connectors import exit_with, run_checks

        exit_with(run_checks(settings, None, click.echo))


@config_group.command("schema")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of standard output.",
)
def config_schema(output: Path | None) -> None:
    """Print the JSON Schema of the config file (for editors' YAML support)."""
    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


# -- teams ----------------------------------------------------------------------


@click.group("teams")
def teams_group() -> None:
    """List, add and remove teams."""


@teams_group.command("list")
@json_option
@pass_state
def teams_list(state: CliState, as_json: bool) -> None:
    """Teams with their manager and number of sellers."""
    rows = admin.team_rows(state.settings())
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["team", "name", "manager", "sellers", "connectors"],
        [[r["id"], r["name"], r["manager"], r["sellers"], r["connectors"]] for r in rows],
    )


@teams_group.command("add", epilog=EDIT_NOTE)
@click.argument("team_id", metavar="ID")
@click.option("--name", required=True, callback=plain_text(), help="Team name as shown in reports.")
@click.option("--manager-id", required=True)
@click.option("--manager-name", required=True, callback=plain_text())
@click.option("--manager-email", required=True, callback=email_address)
@click.option("--timezone", help="Manager's IANA time zone (default: the config's).")
@click.option("--country", help="Manager's ISO country code, for public holidays.")
@click.option("--connector", help="Calendar back end for the whole team.")
@click.option("--calendar", help="Manager's calendar id (default from the connector).")
@pass_state
def teams_add(
    state: CliState,
    team_id: str,
    name: str,
    manager_id: str,
    manager_name: str,
    manager_email: str,
    timezone: str | None,
    country: str | None,
    connector: str | None,
    calendar: str | None,
) -> None:
    """Add a team with its manager (sellers are added with `people add`)."""
    manager = admin.person_data(
        id=manager_id,
        name=manager_name,
        email=manager_email,
        timezone=timezone,
        country=country,
        calendar=calendar,
    )
    admin.add_team(state.config_path, team_id, name, manager, connector=connector)
    click.echo(f"added team {team_id} (manager {manager_id}) to {state.config_path}")
    _warn_offline(state.config_path, [manager_id])


@teams_group.command("remove", epilog=EDIT_NOTE)
@click.argument("team_id", metavar="ID")
@click.option("--force", is_flag=True, help="Also remove the team's sellers.")
@pass_state
def teams_remove(state: CliState, team_id: str, force: bool) -> None:
    """Remove a team (refused while it has sellers, unless --force)."""
    count = admin.remove_team(state.config_path, team_id, force=force)
    extra = f" and its {count} seller(s)" if count else ""
    click.echo(f"removed team {team_id}{extra} from {state.config_path}")


# -- people ---------------------------------------------------------------------


@click.group("people")
def people_group() -> None:
    """List, add, remove, import and export people."""


@people_group.command("list")
@click.option("--team", help="Only this team.")
@json_option
@pass_state
def people_list(state: CliState, team: str | None, as_json: bool) -> None:
    """Managers and sellers, with the time zone, country and calendar in use."""
    rows = admin.people_rows(state.settings(), team)
    if as_json:
        echo_json(rows)
        return
    columns = [
        "team",
        "role",
        "id",
        "name",
        "email",
        "timezone",
        "country",
        "connector",
        "calendar",
    ]
    echo_table(columns, [[r[c] for c in columns] for r in rows])


@people_group.command("add", epilog=EDIT_NOTE)
@click.option("--team", required=True, help="Team id.")
@click.option("--id", "person_id", required=True, help="Stable id (part of session keys).")
@click.option("--name", required=True, callback=plain_text())
@click.option("--email", required=True, callback=email_address)
@click.option("--timezone", help="IANA time zone (default: the config's).")
@click.option("--country", help="ISO country code, for public holidays.")
@click.option("--connector", help="Calendar back end (default: the team's).")
@click.option("--calendar", help="Calendar id (default from the connector).")
@pass_state
def people_add(
    state: CliState,
    team: str,
    person_id: str,
    name: str,
    email: str,
    timezone: str | None,
    country: str | None,
    connector: str | None,
    calendar: str | None,
) -> None:
    """Add a seller to a team."""
    person = admin.person_data(
        id=person_id,
        name=name,
        email=email,
        timezone=timezone,
        country=country,
        connector=connector,
        calendar=calendar,
    )
    admin.add_person(state.config_path, team, person)
    click.echo(f"added {person_id} to team {team} in {state.config_path}")
    # The file is valid (the edit was vetted); what only the machine can tell (their
    # calendar file is not there yet, a secret unset) is said now, not at booking.
    _warn_offline(state.config_path, [person_id])


@people_group.command("remove", epilog=EDIT_NOTE)
@click.argument("person_id", metavar="ID")
@pass_state
def people_remove(state: CliState, person_id: str) -> None:
    """Remove a seller (their past sessions stay in the store and the reports)."""
    upcoming = _upcoming_sessions(state, person_id)
    team = admin.remove_person(state.config_path, person_id)
    click.echo(f"removed {person_id} from team {team} in {state.config_path}")
    for rec in upcoming:
        when = rec.start.isoformat(timespec="minutes") if rec.start else "unscheduled"
        click.echo(
            f"note: session {rec.key} ({when}) of {person_id} is still {rec.state.value} "
            f"in the calendars; cancel it with `coachpass sessions cancel {rec.key}` "
            "before the next booking run, or it stays there",
            err=True,
        )


#: Warnings shown after an import; `config validate` lists the rest.
_MAX_WARNINGS = 10


def _warn_offline(path: Path, person_ids: Sequence[str]) -> None:
    """Warn about what only the machine can tell of the people just written (their
    calendar file is not there yet, ...): the file is valid, but booking would fail."""
    problems = _offline_problems(path, person_ids)
    for problem in problems[:_MAX_WARNINGS]:
        click.echo(f"warning: {problem}", err=True)
    if len(problems) > _MAX_WARNINGS:
        click.echo(
            f"warning: and {len(problems) - _MAX_WARNINGS} more: `coachpass config validate` "
            "lists them all",
            err=True,
        )


def _offline_problems(path: Path, person_ids: Sequence[str]) -> list[str]:
    """The offline checks' problems naming one of `person_ids` (see `config validate`)."""
    if not person_ids:
        return []
    checked = check_file(path)
    if checked.problems or checked.config is None:
        return []
    settings = build_settings(checked.config, checked.csv_rows, path)
    # Whole ids only: s1 is not s10.
    named = re.compile(
        "|".join(rf"(?<![\w-]){re.escape(i)}(?![\w-])" for i in sorted(set(person_ids)))
    )
    return [p for p in preflight.run(checked.loaded, settings) if named.search(p)]


def _upcoming_sessions(state: CliState, person_id: str) -> list[Any]:
    """A seller's sessions still booked from now on, read before the edit (after it
    the person is unknown). A store that does not exist yet holds none: it is not
    created just to look."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import SQLAlchemyError

    from scheduler.store.store import Store

    try:
        settings = state.settings()
    except (ConfigError, UserError):
        return []  # the edit itself says what is wrong with the file
    url = str(settings.store_url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return []
    try:
        store = Store.open(url)
    except SQLAlchemyError:
        click.echo("note: the store could not be read to look for booked sessions", err=True)
        return []
    try:
        now = datetime.now(UTC)
        return [
            r
            for r in store.sessions(org_id=settings.organisation.id, seller_id=person_id)
            if r.state.active and r.start is not None and r.start > now
        ]
    finally:
        store.close()


@people_group.command("import", epilog=EDIT_NOTE)
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--team", help="Team of rows whose team cell is empty (or missing).")
@click.option("--dry-run", is_flag=True, help="Check and count, write nothing.")
@pass_state
def people_import(state: CliState, csv_file: Path, team: str | None, dry_run: bool) -> None:
    """Copy people from a CSV file into the config.

    Columns: team,id,name,email,timezone,country,connector,calendar,role (role is
    seller or manager; empty cells use the defaults). Every row is checked first;
    people are matched by id, so importing the same file again changes nothing.
    """
    result = admin.import_people(state.config_path, csv_file, default_team=team, dry_run=dry_run)
    created = f", new teams: {', '.join(result.teams_created)}" if result.teams_created else ""
    verb = "would change" if dry_run else "changed"
    if not result.changed:
        verb = "no change to"
    click.echo(
        f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged"
        f"{created} ({verb} {state.config_path})"
    )
    if not dry_run:
        _warn_offline(state.config_path, result.people)


@people_group.command("export")
@click.option("--team", help="Only this team.")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Default: stdout."
)
@pass_state
def people_export(state: CliState, team: str | None, output: Path | None) -> None:
    """Write people as CSV in the format `people import` reads."""
    rows = admin.people_rows(state.settings(), team)
    if output is None:
        write_people_csv(rows, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        write_people_csv(rows, handle)
    click.echo(f"wrote {len(rows)} people to {output}")
