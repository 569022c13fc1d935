"""`coachpass connectors check [NAME]`, also run by `config validate --online`.

Each connector's check proves read and write access for the people who use it
(`connectors.checking`); this module picks the people, prints the findings and turns
them into the exit code: 0 all fine (warnings allowed), 2 the connector settings are
wrong, 3 something the settings name does not work (listed, with the person and fix).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from connectors.base import ConnectorContext
from connectors.checking import Finding, Level, exit_code, ok, problem, warning
from scheduler.cli.common import CliState, pass_state
from scheduler.errors import UserError
from scheduler.settings.build import Settings


def run_checks(settings: Settings, name: str | None, echo: Callable[[str], None]) -> list[Finding]:
    """Run the online check of connector `name` (every configured one when None)."""
    from connectors import check_function

    if name is not None and name not in settings.connectors:
        configured = ", ".join(sorted(settings.connectors)) or "(none)"
        raise UserError(
            f"{settings.source}: no connector {name!r} under 'connectors:' (configured: "
            f"{configured})"
        )
    names = [name] if name is not None else sorted(settings.connectors)
    context = ConnectorContext(settings.base_dir, settings.outbox, settings.organisation.name)
    teams = settings.organisation.teams
    findings: list[Finding] = []
    for current in names:
        check = check_function(current)
        if check is None:
            echo(f"{current}: nothing to check online (its files are checked by `config validate`)")
            continue
        people = [p for p in settings.organisation.people() if p.connector == current]
        organizers = [t.manager.calendar() for t in teams if t.manager.connector == current]
        echo(f"{current}: {len(people)} calendars, {len(organizers)} organisers")
        for item in check(
            settings.connectors[current], context, [p.calendar() for p in people], organizers
        ):
            finding = item if isinstance(item, Finding) else _from_text(str(item))
            findings.append(finding)
            echo(f"  {finding}")
    problems = sum(f.level is Level.PROBLEM for f in findings)
    warnings = sum(f.level is Level.WARNING for f in findings)
    echo(f"{problems} problems, {warnings} warnings")
    return findings


def _from_text(line: str) -> Finding:
    """A check that still returns text lines ("ok: ...", "warning: ...", anything else
    is a problem), until it returns `Finding`s."""
    level, _, message = line.partition(": ")
    if level == "ok":
        return ok(message)
    if level == "warning":
        return warning(message)
    return problem(line)


def exit_with(findings: list[Finding]) -> None:
    code = exit_code(findings)
    if code:
        raise click.exceptions.Exit(code)


@click.group("connectors")
def connectors_group() -> None:
    """Check connector credentials and calendar access against the real services."""


@connectors_group.command("check")
@click.argument("name", required=False)
@pass_state
def connectors_check(state: CliState, name: str | None) -> None:
    """Prove that NAME (default: every configured connector) can read every calendar
    and write each organiser's: a private probe event without attendees is created and
    deleted two years ahead. Exit 0 all fine, 2 the settings are wrong, 3 a problem."""
    exit_with(run_checks(state.settings(), name, click.echo))
