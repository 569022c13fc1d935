"""The per-session CSV gives every cancelled attempt its reason, from the history (by
whom and why), as declined ones already say "replaced by a new attempt"."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from scheduler.model import NO_REBOOK, SUPERSEDED, SessionRecord, StateChange
from scheduler.report.sessions_csv import sessions_csv
from tests.report.test_kpi import FEB, NORD, ORG, SYD, S, change, rec


def _reasons(
    sessions: Sequence[SessionRecord], history: Sequence[StateChange]
) -> dict[tuple[str, str], str]:
    rows = csv.DictReader(io.StringIO(sessions_csv(ORG, FEB, sessions, history)))
    return {(r["seller_id"], r["attempt"]): r["reason"] for r in rows if r["attempt"]}


def test_cancelled_attempts_say_by_whom_and_why() -> None:
    by_manager = rec(NORD, "a", 1, S.CANCELLED)
    in_calendar = rec(NORD, "b", 1, S.CANCELLED)
    not_rebooked = rec(NORD, "c", 1, S.CANCELLED, reason=NO_REBOOK + "on sick leave")
    declined = rec(SYD, "e", 1, S.DECLINED, reason=f"{SUPERSEDED} (attempt 2)")
    history = [
        *change(by_manager, S.PLANNED, S.BOOKED, S.CANCELLED, last="cancelled by anna: a fair"),
        *change(in_calendar, S.PLANNED, S.BOOKED, S.CANCELLED, last="cancelled in the calendar"),
        *change(
            not_rebooked, S.PLANNED, S.BOOKED, S.CANCELLED, last="cancelled by admin: on sick leave"
        ),
        *change(declined, S.PLANNED, S.BOOKED, S.DECLINED, last="declined by the seller"),
    ]
    reasons = _reasons([by_manager, in_calendar, not_rebooked, declined], history)
    assert reasons[("a", "1")] == "cancelled by anna: a fair"
    assert reasons[("b", "1")] == "cancelled in the calendar"
    assert reasons[("c", "1")] == "cancelled by admin: on sick leave; not to be rebooked"
    assert reasons[("e", "1")] == f"{SUPERSEDED} (attempt 2)"


def test_a_cancelled_attempt_without_history_keeps_its_own_reason() -> None:
    alone = rec(NORD, "a", 1, S.CANCELLED, reason=NO_REBOOK + "left the company")
    assert _reasons([alone], [])[("a", "1")] == "not to be rebooked: left the company"
