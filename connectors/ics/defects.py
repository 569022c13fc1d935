"""Why a calendar could not be read completely.

A calendar with a defect is *unknown* time for its owner, never free time: the
connector turns a `CalendarDefect` into that person's `FreeBusy.errors` entry, so
their sessions wait and everyone else is planned.
"""

from __future__ import annotations


class CalendarDefect(Exception):
    """A calendar file (or CalDAV resource) that cannot be read completely; the
    message names the file and the line or the event's UID, and what to fix."""


def at(source: str, line: int | None, uid: str | None = None) -> str:
    """Where a defect is: `file, line N, event UID` (the parts that are known)."""
    parts = [source]
    if line is not None:
        parts.append(f"line {line}")
    if uid:
        parts.append(f"event {uid}")
    return ", ".join(parts)
