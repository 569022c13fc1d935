"""Requests the manager's page recorded, performed by the leader.

The page runs on every instance (standby too) and writes only the store: the
request row and the session's history. The leader then cancels the session in the
calendar (the attendees are told), books the month again (a new attempt, within
the month if it has room) and e-mails the manager the new session's link. The
request row says what happened, and the page shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.base import ConnectorError
from scheduler.errors import UserError
from scheduler.model import SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.actions import NEW_TIME_REASON, cancel_session
from scheduler.sessions.booking import book_month
from scheduler.web.notices import notice_store, send_booked_notices

log = logging.getLogger("coachpass.requests")


@dataclass(frozen=True)
class RequestResult:
    session_key: str
    ok: bool
    detail: str


def perform_requests(rt: Runtime, now: datetime) -> list[RequestResult]:
    """Carry out every pending request of the organisation, each on its own: one
    that fails is recorded failed (with why) and the others go on."""
    notices = notice_store(rt)
    results = []
    for row in notices.pending_requests(rt.org.id):
        key = str(row["session_key"])
        try:
            detail = _new_time(rt, key, now)
            ok = True
        except (UserError, ConnectorError) as exc:
            ok, detail = False, str(exc)
            log.warning("new time for %s: %s", key, detail)
        notices.finish_request(key, ok=ok, detail=detail, now=now)
        results.append(RequestResult(key, ok, detail))
    if results:
        # The rebooked sessions' links go to their managers now, not at the next run.
        booked = send_booked_notices(rt, now)
        for line in booked.failures():
            log.warning("%s", line)
    return results


def _new_time(rt: Runtime, key: str, now: datetime) -> str:
    record = rt.store.get(key)
    if record is None:
        raise UserError(f"session {key} is not in the store")
    if not record.state.active:
        raise UserError(f"the session is {record.state.value}: nothing to move")
    cancel_session(rt, key, now=now, reason=NEW_TIME_REASON, by="manager (web)")
    if record.month < rt.month_of(now):
        return "cancelled; its month is over, so no new time was booked"
    summary = book_month(rt, record.month, now)
    newer = [
        r
        for r in rt.store.sessions(org_id=rt.org.id, month=record.month, seller_id=record.seller_id)
        if r.attempt > record.attempt and r.state is SessionState.BOOKED and r.start is not None
    ]
    if newer:
        new = max(newer, key=lambda r: r.attempt)
        assert new.start is not None
        manager = rt.person(record.manager_id)
        zone = ZoneInfo(manager.timezone if manager else rt.org.timezone)
        when = new.start.astimezone(zone)
        return f"cancelled; new time booked: {when:%Y-%m-%d %H:%M %Z} (link e-mailed)"
    why = dict(summary.not_rebooked).get(record.seller_id) or dict(summary.unbookable).get(
        record.seller_id, "no rebook by the policy"
    )
    return f"cancelled; no new time this month ({why})"
