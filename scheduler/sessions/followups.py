"""What a manager records after a session, from the CLI or the manager's page: a
note and the follow-ups for the next agenda. One set of limits for both, and one way
to store follow-ups so that each item stays as it was entered.

Stored follow-ups are one item per line, each marked "- ". A marked line is one
item even when it holds ";"; an unmarked line (as `sessions mark --followups` took
them before, "a; b") is split on ";", so nothing stored earlier reads differently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from scheduler.settings.checks import control_character

NOTE_MAX = 1000
FOLLOWUP_MAX = 200
FOLLOWUPS_MAX = 3

_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")


def followup_items(text: str) -> list[str]:
    """The items of stored (or typed) follow-ups, in order."""
    items: list[str] = []
    for line in text.splitlines():
        match = _BULLET.match(line)
        parts = [match.group(1)] if match else line.split(";")
        items.extend(part.strip() for part in parts if part.strip())
    return items


def stored_followups(items: Sequence[str]) -> str:
    """Items as the store keeps them (see the module's docstring)."""
    return "\n".join(f"- {item.strip()}" for item in items if item.strip())


def problems(note: str, items: Sequence[str]) -> list[str]:
    """What is wrong with a note and follow-ups, every problem at once."""
    errors = []
    if len(note) > NOTE_MAX:
        errors.append(f"The note is {len(note)} characters long: keep it to {NOTE_MAX}.")
    if control_character(note, allow="\n\t") is not None:
        errors.append("The note holds a control character: remove it.")
    if len(items) > FOLLOWUPS_MAX:
        errors.append(f"Give at most {FOLLOWUPS_MAX} follow-ups (you gave {len(items)}).")
    for n, item in enumerate(items, 1):
        if len(item) > FOLLOWUP_MAX:
            errors.append(
                f"Follow-up {n} is {len(item)} characters long: keep it to {FOLLOWUP_MAX}."
            )
        if control_character(item) is not None:
            errors.append(f"Follow-up {n} holds a control character or line break: remove it.")
    return errors
