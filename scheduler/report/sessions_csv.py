"""The report's per-session CSV: one row per session of the month (every attempt), and
one row for each seller without any session, so a reader can count every figure of the
report back from it.

Columns: the seller's month outcome (`scheduler.report.outcomes.Outcome`, the same on
each of their rows), then the session: attempt, state, how that state is known
(`Source`), times in the organisation's zone, held minutes, moved, reason. Sessions of
sellers no longer configured are left out, as in the report's figures.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from scheduler.model import (
    NO_REBOOK,
    Month,
    Organisation,
    SessionRecord,
    SessionState,
    StateChange,
)
from scheduler.report.kpi import seller_months
from scheduler.report.outcomes import outcome_source
from scheduler.settings.spreadsheet import as_text

SESSION_COLUMNS = (
    "month",
    "team",
    "manager",
    "seller_id",
    "seller",
    "seller_outcome",
    "attempt",
    "state",
    "source",
    "start",
    "end",
    "held_minutes",
    "moved",
    "reason",
    "session_key",
)


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(zone).isoformat(timespec="minutes")


def sessions_csv(
    org: Organisation,
    month: Month,
    sessions: Iterable[SessionRecord],
    history: Iterable[StateChange] = (),
) -> str:
    history = list(history)
    changes: dict[str, list[StateChange]] = defaultdict(list)
    for change in history:
        changes[change.key].append(change)
    zone = ZoneInfo(org.timezone)
    teams = {t.id: t for t in org.teams}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SESSION_COLUMNS)
    for sm, records in seller_months(org, month, sessions, history):
        team = teams[sm.team_id]
        who = [
            str(month),
            as_text(team.name),
            as_text(team.manager.name),
            sm.seller_id,
            as_text(sm.name),
            sm.outcome.value,
        ]
        if not records:
            writer.writerow([*who, "", "", "", "", "", "", "", "", as_text(sm.detail), ""])
        for r in records:
            held = r.state is SessionState.HELD
            minutes = (
                round((r.end - r.start).total_seconds() / 60)
                if held and r.start and r.end
                else (org.policy.session_minutes if held else 0)
            )
            writer.writerow(
                [
                    *who,
                    str(r.attempt),
                    r.state.value,
                    outcome_source(r, changes.get(r.key, ())).value,
                    _local(r.start, zone),
                    _local(r.end, zone),
                    str(minutes),
                    "yes" if r.moved or _ever_moved(changes.get(r.key, ())) else "no",
                    as_text(_reason(r, changes.get(r.key, ()))),
                    r.key,
                ]
            )
    return out.getvalue()


def _reason(record: SessionRecord, changes: Sequence[StateChange]) -> str:
    """The record's reason; for a cancelled session led by the history's words of the
    cancellation (by whom and why: "cancelled by anna: sick", "cancelled in the
    calendar"), which the record's own reason does not keep."""
    reason = record.reason
    if record.state is not SessionState.CANCELLED:
        return reason
    into = [c for c in changes if c.to_state is SessionState.CANCELLED]
    said = sorted(into, key=lambda c: c.at)[-1].detail if into else ""
    if reason.startswith(NO_REBOOK):
        why = reason.removeprefix(NO_REBOOK)
        extra = NO_REBOOK.rstrip(": ") + (f": {why}" if why and why not in said else "")
    else:
        extra = reason if reason not in said else ""
    return "; ".join(part for part in (said, extra) if part)


def _ever_moved(changes: Sequence[StateChange]) -> bool:
    return any(c.to_state is SessionState.RESCHEDULED for c in changes)


def sessions_csv_filename(org: Organisation, month: Month) -> str:
    return f"coachpass-{org.id}-{month}-sessions.csv"
