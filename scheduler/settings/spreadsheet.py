"""Cells that a spreadsheet would run as a formula (OWASP "CSV injection").

Every CSV Coachpass writes (people export, the report's summary and per-session
files) passes its text cells through `as_text`; `from_text` undoes it on import, so a
people export read back gives the same people.
"""

from __future__ import annotations

#: What a spreadsheet reads as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading `= + - @`, tab or CR gets a single
    quote in front, as OWASP recommends (`=HYPERLINK(...)` stays a name)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def from_text(value: str) -> str:
    """The inverse of `as_text`."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value
