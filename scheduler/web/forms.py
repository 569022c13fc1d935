"""What the page's forms accept: pure checks with messages that say what to fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduler.sessions.followups import (
    FOLLOWUP_MAX,
    FOLLOWUPS_MAX,
    NOTE_MAX,
    problems,
    stored_followups,
)

__all__ = ["FOLLOWUPS_MAX", "FOLLOWUP_MAX", "NOTE_MAX", "MarkForm", "read_mark"]

OUTCOMES = ("held", "no_show")


@dataclass(frozen=True)
class MarkForm:
    outcome: str
    note: str
    followups: tuple[str, ...]

    @property
    def followups_text(self) -> str:
        """As the store keeps them: each item stays one item, ";" and all."""
        return stored_followups(self.followups)


def read_mark(fields: Mapping[str, Sequence[str]]) -> tuple[MarkForm | None, list[str]]:
    """The form, or None and what is wrong (every problem at once). Empty note and
    follow-ups are what the form holds: saving them clears what was recorded."""
    errors: list[str] = []
    outcome = (fields.get("outcome") or [""])[0]
    if outcome not in OUTCOMES:
        errors.append("Choose held or no-show.")
    note = (fields.get("note") or [""])[0].replace("\r\n", "\n").strip()
    followups = tuple(f.strip() for f in fields.get("followup", []) if f.strip())
    errors += problems(note, followups)
    if errors:
        return None, errors
    return MarkForm(outcome, note, followups), []
