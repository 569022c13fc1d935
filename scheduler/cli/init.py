"""`coachpass init [DIR]`: a first config that runs at once, and what to edit next.

It writes the bundled example config (the same file as config/coachpass.example.yaml,
also shipped by a non-editable install under <prefix>/share/coachpass/config) and one
generated `.ics` calendar per person for the `local` connector, so `config validate`
and `plan` work before any account is connected, and the JSON Schema the config's
`yaml-language-server` line names (coachpass.schema.json, beside it). An existing config is never
overwritten (exit 2, nothing written).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from scheduler.cli.common import month_option
from scheduler.demo.data import DemoPerson
from scheduler.errors import UserError
from scheduler.model import Month, Person
from scheduler.settings.build import BUNDLED_CONFIG, Settings

EXAMPLE = "coachpass.example.yaml"
CONFIG_NAME = "coachpass.yaml"


def write_starter(folder: Path, month: Month | None = None) -> tuple[Path, int]:
    """Write `folder/coachpass.yaml` and its example calendars; returns the config's
    path and how many calendars were written."""
    from scheduler.demo.data import person_calendar
    from scheduler.settings.load import SCHEMA_NAME, load_settings, schema_text

    config = folder / CONFIG_NAME
    if config.exists():
        raise UserError(
            f"{config} exists already: nothing written (edit it, or run `coachpass init` "
            "in another folder)"
        )
    source = BUNDLED_CONFIG / EXAMPLE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError:
        raise UserError(
            f"the example config {source} is missing: the installation is incomplete; "
            "reinstall coachpass"
        ) from None
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    # The config's `# yaml-language-server: $schema=coachpass.schema.json` line names
    # this file: without it an editor reports a broken schema link. It is generated
    # from the program, so one left from an older version is brought up to date.
    (folder / SCHEMA_NAME).write_text(schema_text(), encoding="utf-8")
    settings = load_settings(config)
    calendars = _local_folder(settings)
    (settings.outbox).mkdir(parents=True, exist_ok=True)
    zone = ZoneInfo(settings.organisation.timezone)
    month = month or Month.of(datetime.now(UTC).astimezone(zone)).next()
    managers = {t.manager.id for t in settings.organisation.teams}
    written = 0
    for person in settings.organisation.people():
        if person.connector != "local" or calendars is None:
            continue
        path = calendars / person.calendar_id
        if path.exists():
            continue  # a calendar the admin put there already is theirs
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(person_calendar(_demo(person), manager=person.id in managers, month=month))
        written += 1
    return config, written


def _local_folder(settings: Settings) -> Path | None:
    options = settings.connectors.get("local")
    if not options or not options.get("path"):
        return None
    path = Path(str(options["path"])).expanduser()
    folder = path if path.is_absolute() else settings.base_dir / path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _demo(person: Person) -> DemoPerson:
    return DemoPerson(
        person.id, person.name, person.email, person.timezone, person.country, person.subdivision
    )


NEXT_STEPS = """\
Next:
  1. Edit {config}: organisation (id, name, time zone, country), policy, teams
     (managers and sellers), leadership (who gets the report), mail.
  2. Connect calendars: uncomment google, outlook or caldav under `connectors:` and
     set `defaults: connector:`; secrets go in environment variables or files
     (`client_secret_env`, `service_account_file`), never in the file.
  3. coachpass --config {config} config validate --online
  4. coachpass --config {config} plan            (a dry run of next month)
  5. coachpass --config {config} book, then `serve` (README: "Operations")
Until then the example calendars in {calendars} let you try plan and book."""


@click.command("init")
@click.argument(
    "folder",
    metavar="[DIR]",
    required=False,
    default=".",
    type=click.Path(path_type=Path, file_okay=False),
)
@month_option(help_text="Month the example calendars cover, YYYY-MM (default: next month).")
def init(folder: Path, month: Month | None) -> None:
    """Write a config that works at once into DIR (default: here): the example
    organisation with one generated .ics calendar per person, ready for `config
    validate` and `plan`, and coachpass.schema.json for editors. Refuses to overwrite
    an existing coachpass.yaml."""
    from scheduler.settings.load import SCHEMA_NAME

    config, written = write_starter(folder, month)
    click.echo(
        f"wrote {config}, its JSON Schema for editors ({folder / SCHEMA_NAME}) "
        f"and {written} example calendars in {folder / 'calendars'}"
    )
    click.echo(NEXT_STEPS.format(config=config, calendars=folder / "calendars"))
