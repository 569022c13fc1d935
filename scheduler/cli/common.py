"""What every CLI command module shares: the state object and option decorators.

Command modules import click; the core modules never do (they raise `UserError`s,
and the one error handler in `scheduler.cli.main` turns those into exit code 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

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


def json_option(func: F) -> F:
    """`--json`: print machine-readable output instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


def month_option(required: bool = False, help_text: str = "Month as YYYY-MM.") -> Callable[[F], F]:
    def parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        from scheduler.model import Month

        try:
            return Month.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

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
