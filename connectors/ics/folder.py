"""Finding an attendee's calendar in the local connector's folder.

An attendee's calendar is `<folder>/<email>.ics`, else `<folder>/<email>/` (a folder
calendar), else a top-level `.ics` file whose VCALENDAR carries
`X-COACHPASS-OWNER:mailto:<email>` (what `coachpass demo` writes, so files can be
named by person id).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from connectors.ics.busy import mailto
from connectors.ics.files import calendar_level_property

OWNER_PROPERTY = "X-COACHPASS-OWNER"


def attendee_calendars(folder: Path, emails: Iterable[str]) -> dict[str, Path]:
    """Calendars of those attendees who have one in `folder`, keyed by lower-case
    e-mail. The owner properties are read at most once per call."""
    found: dict[str, Path] = {}
    owners: dict[str, Path] | None = None
    for email in {e.strip().lower() for e in emails}:
        named = [c for c in (folder / f"{email}.ics", folder / email) if c.exists()]
        if named:
            found[email] = named[0]
            continue
        if owners is None:
            owners = owner_index(folder)
        if email in owners:
            found[email] = owners[email]
    return found


def owner_index(folder: Path) -> dict[str, Path]:
    """E-mail (lower case) -> calendar file, from `X-COACHPASS-OWNER` properties."""
    owners: dict[str, Path] = {}
    if not folder.is_dir():
        return owners
    for path in sorted(folder.glob("*.ics"), reverse=True):  # the first name wins
        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as handle:
                head = handle.read(8192)  # calendar properties come before components
        except OSError:
            continue
        owner = calendar_level_property(head, OWNER_PROPERTY)
        if owner:
            owners[mailto(owner)] = path
    return owners
