"""Sync cursors for ICS calendars, which have no server-side sync token.

The cursor carries its own state: for each of our events it last described, a short
digest of what a reconciler cares about (times, cancellation, replies). `changes`
recomputes the digests and reports what differs, and keys that vanished as
`removed`. No state is kept in the user's folder, and two processes may hold cursors
for the same calendar.

A cursor is only valid for the calendar it was made for and its epoch: the calendar
property `X-COACHPASS-EPOCH` (absent = "0"). Changing the epoch (e.g. after restoring a
calendar from a backup) invalidates every cursor, which makes the next read a full one.
A cursor that does not parse, is for another calendar or another format version is
treated the same way: a full read, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.cursor_codec import pack, unpack

_PREFIX = "ics1."


@dataclass(frozen=True)
class IcsCursor:
    calendar: str  # resolved path of the organiser's calendar
    epoch: str
    digests: Mapping[str, str]  # session key -> state digest


def encode(cursor: IcsCursor) -> str:
    payload = {"c": cursor.calendar, "g": cursor.epoch, "e": dict(sorted(cursor.digests.items()))}
    return pack(_PREFIX, payload)


def decode(text: str | None) -> IcsCursor | None:
    """The cursor, or None for anything that is not one of ours."""
    payload = unpack(_PREFIX, text)
    if payload is None:
        return None
    try:
        digests = payload["e"]
        if not isinstance(digests, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
        ):
            return None
        return IcsCursor(str(payload["c"]), str(payload["g"]), digests)
    except (KeyError, TypeError):
        return None
