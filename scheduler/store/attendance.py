"""What the meeting providers said about each session's meeting (columns `attendance_*`
of `sessions`, migration 0003), for `scheduler.sessions.attendance`.

Which sessions are still worth asking about, and keeping an answer with its verdict:
every verdict is re-checked in the transaction that applies it (never over a verified
outcome, a manager's mark, or an answer another instance settled first), and one
connector's answers go in one transaction, not one commit per session.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update

from scheduler.model import SessionRecord, SessionState
from scheduler.store.schema import UtcDateTime, session_history, sessions
from scheduler.store.store import Store, _record


@dataclass(frozen=True)
class AttendanceNote:
    """What to keep of a meeting provider's answer about one session
    (`record_attendance`)."""

    key: str
    status: str | None  # an AttendanceStatus value; None: could not tell (an error)
    detail: str
    settled: bool  # final: never asked again
    verdict: SessionState | None = None  # held or no-show, verified
    history_detail: str = ""


def attendance_due(
    store: Store, org_id: str, *, ended: tuple[datetime, datetime]
) -> list[SessionRecord]:
    """Sessions whose meeting attendance is still worth asking about: ended within
    [from, to], in a calendar (an event id), not settled, and either presumed held
    (held, not verified) or still booked or moved after their end. A verified
    outcome (the provider's or a manager's) is never among them."""
    query = (
        select(sessions)
        .where(
            sessions.c.org_id == org_id,
            sessions.c.end_at >= ended[0],
            sessions.c.end_at <= ended[1],
            sessions.c.event_id.is_not(None),
            sessions.c.attendance_settled_at.is_(None),
            or_(
                and_(
                    sessions.c.state == SessionState.HELD.value,
                    sessions.c.verified.is_(False),
                ),
                sessions.c.state.in_([SessionState.BOOKED.value, SessionState.RESCHEDULED.value]),
            ),
        )
        .order_by(sessions.c.connector, sessions.c.manager_id, sessions.c.end_at)
    )
    with store.engine.connect() as conn:
        return [_record(r) for r in conn.execute(query)]


def record_attendance(
    store: Store, notes: Sequence[AttendanceNote], *, now: datetime, protected_prefix: str
) -> set[str]:
    """Keep what the meeting provider said about each session, and apply each
    note's `verdict` (held or no-show, verified), all in one transaction (one
    commit per organiser's answer, not per session). A note's `status` None is
    "could not tell": only the time and the reason are kept. Returns the keys
    whose verdict was applied: never over a verified outcome, a session whose
    history holds a change with `protected_prefix` (a manager's mark), one no
    longer held, booked or moved, or one another process settled first."""
    if not notes:
        return set()
    keys = [n.key for n in notes]
    allowed = {SessionState.HELD, SessionState.BOOKED, SessionState.RESCHEDULED}
    applied: set[str] = set()
    with store._tx() as conn:
        rows: dict[str, Any] = {}
        marked: set[str] = set()
        for chunk in _chunks(keys):
            rows.update(
                (r.key, r)
                for r in conn.execute(
                    select(
                        sessions.c.key,
                        sessions.c.state,
                        sessions.c.verified,
                        sessions.c.attendance_status,
                        sessions.c.attendance_settled_at,
                    )
                    .where(sessions.c.key.in_(chunk))
                    .with_for_update()
                )
            )
            marked.update(
                r.key
                for r in conn.execute(
                    select(session_history.c.key)
                    .where(session_history.c.key.in_(chunk))
                    .where(session_history.c.detail.startswith(protected_prefix))
                    .distinct()
                )
            )
        history: list[dict[str, Any]] = []
        plain: list[dict[str, Any]] = []
        judged: list[dict[str, Any]] = []
        for note in notes:
            row = rows.get(note.key)
            if row is None:
                raise KeyError(note.key)
            if row.attendance_settled_at is not None:
                continue  # settled meanwhile (another instance): its word stands
            values: dict[str, Any] = {
                "k": note.key,
                "status": note.status or row.attendance_status,
                "detail": note.detail,
                "settled": now if note.settled else None,
            }
            current = SessionState(row.state)
            if (
                note.verdict is not None
                and not row.verified
                and note.key not in marked
                and current in allowed
            ):
                judged.append({**values, "state": note.verdict.value})
                history.append(
                    {
                        "key": note.key,
                        "at": now,
                        "from_state": current.value,
                        "to_state": note.verdict.value,
                        "detail": note.history_detail,
                    }
                )
                applied.add(note.key)
            else:
                plain.append(values)
        # Two statements for the lot (executemany), not one compiled per session.
        answer = {
            "attendance_status": bindparam("status"),
            "attendance_detail": bindparam("detail"),
            "attendance_checked_at": now,
            "attendance_settled_at": bindparam("settled", type_=UtcDateTime()),
        }
        where = sessions.c.key == bindparam("k")
        if plain:
            conn.execute(update(sessions).where(where).values(answer), plain)
        if judged:
            verdict = {
                **answer,
                "state": bindparam("state"),
                "verified": True,
                "updated_at": now,
            }
            conn.execute(update(sessions).where(where).values(verdict), judged)
        if history:
            conn.execute(insert(session_history), history)
    return applied


def _chunks(keys: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """Keys in slices a SQL `IN (...)` takes on every database."""
    for i in range(0, len(keys), size):
        yield keys[i : i + size]
