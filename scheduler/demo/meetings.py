"""The demo's meeting tool: attendance reports for some sessions, as one would drop them.

The demo's `local` connector reads `meetings/<session key>.json` (its `attendance_dir`).
Some sessions get a report in which manager and seller were together (one of them
rejoined: the intervals add up), which reconcile turns into *verified held*; in a few
the seller never joined, a *verified no-show*; in one they were together only briefly,
which proves nothing and stays presumed. Sessions without a report stay presumed, or
are marked by their manager.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from scheduler.model import Month, SessionRecord, SessionState, StateChange
from scheduler.report.outcomes import Source, outcome_source
from scheduler.runtime import Runtime

#: How many sessions get which report.
ATTENDED, SELLER_ABSENT, TOO_SHORT = 6, 2, 1


def _span(start: datetime, join: int, leave: int) -> dict[str, str]:
    return {
        "join": (start + timedelta(minutes=join)).isoformat(),
        "leave": (start + timedelta(minutes=leave)).isoformat(),
    }


def drop_reports(
    rt: Runtime, month: Month, folder: Path, rng: random.Random
) -> dict[str, list[SessionRecord]]:
    """Write reports for some of the month's booked sessions (at their final times);
    returns them by kind."""
    booked = sorted(
        (
            r
            for r in rt.store.sessions(
                org_id=rt.org.id,
                month=month,
                states=[SessionState.BOOKED, SessionState.RESCHEDULED],
            )
            if r.start is not None and r.end is not None
        ),
        key=lambda r: r.key,
    )
    rng.shuffle(booked)
    kinds = {
        "attended": booked[:ATTENDED],
        "seller absent": booked[ATTENDED : ATTENDED + SELLER_ABSENT],
        "too short": booked[ATTENDED + SELLER_ABSENT : ATTENDED + SELLER_ABSENT + TOO_SHORT],
    }
    folder.mkdir(parents=True, exist_ok=True)
    for kind, records in kinds.items():
        for n, rec in enumerate(records):
            manager, seller = rt.person(rec.manager_id), rt.person(rec.seller_id)
            assert manager is not None and seller is not None
            assert rec.start is not None and rec.end is not None
            length = round((rec.end - rec.start).total_seconds() / 60)
            presence = {manager.email.lower(): [_span(rec.start, -1, length)]}
            if kind == "attended" and n == 0:
                # Dropped out and rejoined: both stays count.
                presence[seller.email.lower()] = [
                    _span(rec.start, 2, 20),
                    _span(rec.start, 23, length - 1),
                ]
            elif kind == "attended":
                presence[seller.email.lower()] = [_span(rec.start, 1, length - 2)]
            elif kind == "too short":
                presence[seller.email.lower()] = [_span(rec.start, 30, 38)]
            report = {"status": "met", "presence": presence, "detail": "demo meeting tool"}
            (folder / f"{rec.key}.json").write_text(json.dumps(report, indent=2) + "\n")
    return kinds


def outcome_sources(
    records: Sequence[SessionRecord], history: Sequence[StateChange]
) -> dict[tuple[SessionState, Source], int]:
    """Held and no-show sessions by how their outcome is known."""
    by_key: dict[str, list[StateChange]] = {}
    for change in history:
        by_key.setdefault(change.key, []).append(change)
    counts: dict[tuple[SessionState, Source], int] = {}
    for rec in records:
        if rec.state in (SessionState.HELD, SessionState.NO_SHOW):
            source = outcome_source(rec, by_key.get(rec.key, ()))
            counts[(rec.state, source)] = counts.get((rec.state, source), 0) + 1
    return counts


def describe(counts: Mapping[tuple[SessionState, Source], int]) -> list[str]:
    """Lines for the demo's summary: the three kinds of outcome apart."""
    words = {
        Source.PROVIDER: "verified by the meeting report",
        Source.MANAGER: "recorded by the manager",
        Source.PRESUMED: "presumed (the time passed)",
    }
    lines = []
    for state, label in ((SessionState.HELD, "held"), (SessionState.NO_SHOW, "no-show")):
        parts = [f"{counts[(state, s)]} {w}" for s, w in words.items() if counts.get((state, s))]
        total = sum(n for (st, _), n in counts.items() if st is state)
        lines.append(f"Sessions {label}: {total}" + (f" = {' + '.join(parts)}" if parts else ""))
    return lines
