"""Before a month is booked: find sessions of the months around it that were moved
into it since the last reconcile.

Where a session lies decides which month it counts for. A manager who drags last
month's session into the month about to be booked has given the seller that month's
session; booking from the store alone would add a second. So booking first looks the
live sessions of the neighbouring months up by key (one batch per organiser) and
records their times. A session that could not be looked up may lie in the month: its
seller is not booked this run (the next run tries again), never booked twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from connectors.base import ConnectorError
from scheduler.model import Month, SessionRecord, SessionState
from scheduler.runtime import Runtime

log = logging.getLogger(__name__)

#: How far from the booked month a session may have been dragged and still be seen.
REACH = 2


def neighbours(month: Month) -> list[Month]:
    before, after = [month], [month]
    for _ in range(REACH):
        before.append(before[-1].previous())
        after.append(after[-1].next())
    return before[1:] + after[1:]


def follow_moves(
    rt: Runtime, month: Month, now: datetime, sellers: Collection[str]
) -> dict[str, str]:
    """Record the current times of the live sessions of `sellers` (those about to be
    booked: a run with nothing to book looks nothing up) booked for the months around
    `month`. Returns {seller id: why} for sellers whose session could not be looked
    up: they must not be booked in `month` now."""
    if not sellers:
        return {}
    wanted = set(sellers)
    live = (SessionState.BOOKED, SessionState.RESCHEDULED)
    groups: dict[tuple[str, str], list[SessionRecord]] = defaultdict(list)
    for rec in rt.store.sessions(org_id=rt.org.id, months=neighbours(month), states=live):
        if rec.event_id and rec.seller_id in wanted:
            groups[(rec.connector, rec.manager_id)].append(rec)
    uncertain: dict[str, str] = {}
    for (name, manager_id), recs in sorted(groups.items()):
        manager = rt.person(manager_id)
        if manager is None:
            continue  # not followed any more (reconcile says so)
        by_key = {r.key: r for r in recs}
        try:
            answer = rt.connector(name).lookup(manager.calendar(), list(by_key))
        except ConnectorError as exc:
            uncertain.update({r.seller_id: str(exc) for r in recs})
            continue
        for key, problem in answer.errors.items():
            uncertain[by_key[key].seller_id] = problem
        for key, state in answer.found.items():
            rec = by_key[key]
            if state is None or (state.start, state.end) == (rec.start, rec.end):
                continue  # gone, or where it was: reconcile settles the rest
            rt.store.transition(
                key,
                SessionState.RESCHEDULED,
                now=now,
                detail=f"moved to {state.start.isoformat()} (seen before booking {month})",
                expect={rec.state},
                start=state.start,
                end=state.end,
                moved=True,
            )
    for seller_id, why in uncertain.items():
        log.warning("seller %s not booked in %s this run: %s", seller_id, month, why)
    return uncertain
