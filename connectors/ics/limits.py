"""Per-calendar limits of the `local` connector (also applied to CalDAV answers).

One hostile or runaway calendar must cost a bounded amount of time and memory, and
above a limit it is an error for its owner ("too big to read"), never free time.
The defaults are far above what a person's real calendar holds (a busy manager's
ten-year Outlook export is ~20k events / ~30 MB) and well below what the machine
can afford per calendar (see benchmarks/ics_busy.py for the figures).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import ConnectorUserError


@dataclass(frozen=True)
class Limits:
    max_file_mb: float = 50.0  # per .ics file
    max_events: int = 100_000  # VEVENTs per calendar (all its files)
    max_occurrences: int = 10_000  # occurrences inside the window asked for

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


DEFAULT_LIMITS = Limits()

_OPTIONS = {"max_file_mb": float, "max_events": int, "max_occurrences": int}


def limits_from_options(options: Mapping[str, Any], connector: str = "local") -> Limits:
    """The limits set in a connector's options; each must be a positive number."""
    values: dict[str, Any] = {}
    for name, kind in _OPTIONS.items():
        raw = options.get(name)
        if raw is None:
            continue
        try:
            value = kind(raw)
            if isinstance(raw, bool) or (kind is int and float(raw) != value):
                raise ValueError(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or value <= 0:
            raise ConnectorUserError(
                f"{connector} connector: `{name}` must be a positive "
                f"{'whole number' if kind is int else 'number'}, not {raw!r}"
            )
        values[name] = value
    return Limits(**values)
