"""Which sessions are owed a reminder, and when: pure (records and time are given).

A session is owed one reminder when it has ended, nobody recorded how it went (no
manager's mark, no attendance from the provider; a presumed outcome does not count)
and it was not cancelled or declined. The reminder goes out on the first working
morning after the day it ended, in the organisation's zone: working days are the
policy's weekdays minus the organisation's public holidays. Sessions that ended more
than `LOOKBACK` ago are left alone: a first start of the service does not mail
managers about months gone by.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.model import SessionRecord, SessionState, StateChange
from scheduler.report.outcomes import Source, outcome_source

LOOKBACK = timedelta(days=7)
#: States of a session that happened or should have (not cancelled, declined, ...).
_ENDED_STATES = (
    SessionState.BOOKED,
    SessionState.RESCHEDULED,
    SessionState.HELD,
    SessionState.NO_SHOW,
)


def is_working_day(day: date, weekdays: Collection[int], holidays: Collection[date]) -> bool:
    return day.weekday() in weekdays and day not in holidays


def outcome_recorded(record: SessionRecord, changes: Sequence[StateChange]) -> bool:
    """The manager marked it, or the provider reported attendance."""
    if record.state not in (SessionState.HELD, SessionState.NO_SHOW):
        return False
    return outcome_source(record, changes) in (Source.MANAGER, Source.PROVIDER)


def due_reminders(
    records: Sequence[SessionRecord],
    history: Mapping[str, Sequence[StateChange]],
    now: datetime,
    zone: str,
    weekdays: Collection[int],
    holidays: Collection[date],
) -> list[SessionRecord]:
    """The sessions whose reminder is due at `now` (empty on a day off)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    if not is_working_day(today, weekdays, holidays):
        return []
    return [
        r
        for r in records
        if r.state in _ENDED_STATES
        and r.end is not None
        and r.end.astimezone(ZoneInfo(zone)).date() < today
        and now - r.end <= LOOKBACK
        and not outcome_recorded(r, history.get(r.key, ()))
    ]
