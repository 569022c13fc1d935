"""What every CLI command module shares: the state object and option decorators.

Command modules import click; the core modules never do (they raise `UserError`s,
and the one error handler in `scheduler.cli.main` turns those into exit code 2).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from scheduler.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_ENV = "COACHPASS_CONFIG"
DEFAULT_CONFIG = Path("coachpass.yaml")


@dataclass
class CliState:
    """`ctx.obj` of every command. Settings are loaded on first use, so `--help`
    and `config schema` work without a config file."""

    config_path: Path
    _settings: Any = field(default=None, repr=False)

    def settings(self) -> Any:
        if self._settings is None:
            from scheduler.settings.load import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings


pass_state = click.make_pass_decorator(CliState)


def now_utc() -> datetime:
    """The clock of every command. `COACHPASS_NOW` (ISO 8601 with offset) pins it
    for tests and demos."""
    pinned = os.environ.get("COACHPASS_NOW")
    if pinned:
        try:
            value = datetime.fromisoformat(pinned)
        except ValueError:
            raise UserError(f"COACHPASS_NOW={pinned!r} is not an ISO 8601 time") from None
        if value.tzinfo is None:
            raise UserError(f"COACHPASS_NOW={pinned!r} needs a UTC offset, e.g. +00:00")
        return value
    return datetime.now(UTC)


def json_option(func: F) -> F:
    """`--json`: print machine-readable output instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


#: Months a command accepts: wide enough for any real plan or report, narrow enough
#: that a typo (`27-01`, `0000-01`) is caught instead of reaching date arithmetic.
FIRST_YEAR, LAST_YEAR = 2000, 2100
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_month(value: str) -> Any:
    """`YYYY-MM` between 2000-01 and 2100-12 -> `Month`; else `click.BadParameter`."""
    from scheduler.model import Month

    # Exactly YYYY-MM, as the README says: no spaces, no trailing line break (`$`
    # alone would let "2027-01\n" through).
    match = _MONTH.fullmatch(value)
    year, month = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not (FIRST_YEAR <= year <= LAST_YEAR and 1 <= month <= 12):
        spaces = " without spaces" if value != value.strip() else ""
        raise click.BadParameter(
            f"{value!r} is not a month: write YYYY-MM{spaces} between {FIRST_YEAR}-01 and "
            f"{LAST_YEAR}-12, e.g. 2027-01"
        )
    return Month(year, month)


def plain_text(multiline: bool = False) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Option callback refusing control characters (line breaks and tabs allowed in
    `multiline` text such as notes), as the config refuses them in names."""
    from scheduler.settings.checks import control_character

    def check(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if isinstance(value, str):
            code = control_character(value, allow="\n\t" if multiline else "")
            if code is not None:
                what = "" if multiline else " (write it on one line)"
                raise click.BadParameter(f"contains a control character ({code}){what}")
        return value

    return check


def email_address(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    """Option callback: an RFC 5322 address, checked as the config checks it."""
    from scheduler.settings.checks import check_email

    if value is None:
        return None
    try:
        return check_email(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def month_option(required: bool = False, help_text: str = "Month as YYYY-MM.") -> Callable[[F], F]:
    def parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        return None if value is None else parse_month(value)

    def deco(func: F) -> F:
        return click.option("--month", callback=parse, required=required, help=help_text)(func)

    return deco


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned text table (no dependency; fine for tens to thousands of rows)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
