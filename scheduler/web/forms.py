"""What the page's forms accept: pure checks with messages that say what to fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduler.settings.checks import control_character

NOTE_MAX = 1000
FOLLOWUP_MAX = 200
FOLLOWUPS_MAX = 3
OUTCOMES = ("held", "no_show")


@dataclass(frozen=True)
class MarkForm:
    outcome: str
    note: str
    followups: tuple[str, ...]

    @property
    def followups_text(self) -> str:
        """One per line: how `sessions mark --followups` stores them and the next
        agenda reads them."""
        return "\n".join(self.followups)


def read_mark(fields: Mapping[str, Sequence[str]]) -> tuple[MarkForm | None, list[str]]:
    """The form, or None and what is wrong (every problem at once)."""
    errors: list[str] = []
    outcome = (fields.get("outcome") or [""])[0]
    if outcome not in OUTCOMES:
        errors.append("Choose held or no-show.")
    note = (fields.get("note") or [""])[0].replace("\r\n", "\n").strip()
    if len(note) > NOTE_MAX:
        errors.append(f"The note is {len(note)} characters long: keep it to {NOTE_MAX}.")
    if control_character(note, allow="\n\t") is not None:
        errors.append("The note holds a control character: remove it.")
    followups = tuple(f.strip() for f in fields.get("followup", []) if f.strip())
    if len(followups) > FOLLOWUPS_MAX:
        errors.append(f"Give at most {FOLLOWUPS_MAX} follow-ups.")
    for n, item in enumerate(followups, 1):
        if len(item) > FOLLOWUP_MAX:
            errors.append(
                f"Follow-up {n} is {len(item)} characters long: keep it to {FOLLOWUP_MAX}."
            )
        if control_character(item) is not None:
            errors.append(f"Follow-up {n} holds a control character or line break: remove it.")
    if errors:
        return None, errors
    return MarkForm(outcome, note, followups), []
