"""Finding an attendee's calendar in the local connector's folder.

An attendee's calendar is `<folder>/<email>.ics`, else `<folder>/<email>/` (a folder
calendar), else a top-level `.ics` file whose VCALENDAR carries
`X-COACHPASS-OWNER:mailto:<email>` (what `coachpass demo` writes, so files can be
named by person id).

An e-mail becomes a file name here, and attendee copies are written to it: a name
that resolves outside the folder (`../../x@y`, an absolute path, a symbolic link
leading out) is never used, whatever the settings let through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from connectors.ics.busy import mailto
from connectors.ics.files import calendar_level_property

log = logging.getLogger(__name__)

OWNER_PROPERTY = "X-COACHPASS-OWNER"


def inside(folder: Path, name: str) -> Path | None:
    """`folder / name` when it resolves to a path inside `folder`, else None."""
    try:
        root = folder.resolve()
        candidate = (folder / name).resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL, a symlink loop
        return None
    if candidate == root or not candidate.is_relative_to(root):
        return None
    return folder / name


def attendee_calendars(
    folder: Path, emails: Iterable[str], owner_of: Callable[[Path], str | None] | None = None
) -> dict[str, Path]:
    """Calendars of those attendees who have one in `folder`, keyed by lower-case
    e-mail. The owner properties are read at most once per call, each by `owner_of`
    (default `file_owner`; the connector passes one that keeps them per file)."""
    found: dict[str, Path] = {}
    owners: dict[str, Path] | None = None
    for email in {e.strip().lower() for e in emails}:
        candidates = [inside(folder, f"{email}.ics"), inside(folder, email)]
        if candidates[0] is None:
            log.warning("attendee %r would be a file outside %s: no copy written", email, folder)
            continue
        named = [c for c in candidates if c is not None and c.exists()]
        if named:
            found[email] = named[0]
            continue
        if owners is None:
            owners = owner_index(folder, owner_of or file_owner)
        if email in owners:
            found[email] = owners[email]
    return found


def owner_index(
    folder: Path, owner_of: Callable[[Path], str | None] | None = None
) -> dict[str, Path]:
    """E-mail (lower case) -> calendar file, from `X-COACHPASS-OWNER` properties."""
    owners: dict[str, Path] = {}
    if not folder.is_dir():
        return owners
    for path in sorted(folder.glob("*.ics"), reverse=True):  # the first name wins
        try:
            owner = (owner_of or file_owner)(path)
        except OSError:
            continue
        if owner:
            owners[owner] = path
    return owners


def file_owner(path: Path) -> str | None:
    """The owner's e-mail (lower case) a calendar file names, if any."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        head = handle.read(8192)  # calendar properties come before components
    owner = calendar_level_property(head, OWNER_PROPERTY)
    return mailto(owner) if owner else None
