"""How booking cuts one connector's sessions into create calls for the I/O pool.

A call is one worker's, and one organiser's sessions are always in one call: a
mailbox then never has requests from two workers in flight (Graph runs at most four
requests per mailbox at once, and the `$batch` lanes keep to that only within one
request), and Google's per-user quota is one worker's.

Graph: each create call runs in phases (create; the files; the PATCH that invites),
each phase one run of `$batch` requests of 20 parts, and every session has the same
parts in a phase (one create, one part per file, one PATCH). A call of n sessions
therefore fills every batch of every phase when n is a multiple of 20, and leaves a
part-full batch in each phase when it is not: 6 organisers of 15 (90 sessions) made
5 batches per phase where 4.5 carry the parts, 2,216 create batches for 700 x 15
with two files where 2,100 carry them. So a call closes at an organiser boundary where its
session count is a multiple of 20, or, when none comes within `most`, at the
boundary that wastes the fewest parts (the earliest of those).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from connectors.base import NewEvent

T = TypeVar("T")


@dataclass(frozen=True)
class UnitShape:
    """Sessions per create call: at least `least` (while there are that many left),
    closed at a multiple of `multiple` when one comes by `most`."""

    least: int
    multiple: int = 1
    most: int = 0  # 0: `least`

    def waste(self, sessions: int) -> int:
        """Parts short of full batches in a phase of one part per session."""
        return -sessions % self.multiple


#: Google: one organiser per call (each has its own identity and batch). Graph: a few
#: organisers per call, cut so each phase's batches are full (20 parts: Graph's
#: `$batch` limit); 80 to 160 sessions keep 700 organisers spread over 16 workers.
#: Connectors not listed (local files, CalDAV with its own concurrency): one call.
CREATE_UNIT = {"google": UnitShape(1), "outlook": UnitShape(80, 20, 160)}


def create_units(name: str, items: Sequence[tuple[T, NewEvent]]) -> list[list[tuple[T, NewEvent]]]:
    """`items` cut into calls at organiser boundaries (see the module doc), in order."""
    shape = CREATE_UNIT.get(name)
    if shape is None:
        return [list(items)] if items else []
    by_organiser: dict[str, list[tuple[T, NewEvent]]] = {}
    for item in items:
        by_organiser.setdefault(item[1].organizer.calendar_id.lower(), []).append(item)
    groups = list(by_organiser.values())
    most = max(shape.most, shape.least)
    units: list[list[tuple[T, NewEvent]]] = []
    start = 0
    while start < len(groups):
        sessions, end, best = 0, start, None
        while end < len(groups):
            sessions += len(groups[end])
            end += 1
            if sessions < shape.least:
                continue
            if best is None or shape.waste(sessions) < best[0]:
                best = (shape.waste(sessions), end)
            if best[0] == 0 or sessions >= most:
                break
        # Fewer than `least` left: they go together, as one call.
        stop = best[1] if best is not None else end
        units.append([item for group in groups[start:stop] for item in group])
        start = stop
    return units
