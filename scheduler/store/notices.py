"""Manager notices (the "sessions booked" and reminder e-mails) and the requests the
manager's page records (tables `notices`, `page_requests`, migration 0004).

A notice is claimed per (session, kind) before its e-mail is sent: the unique
constraint lets one instance, one run and one retry win, so a session's notice is
never sent twice. A claim is `sending` until the mail is handed over (`sent`). A
certain failure (the server refused it) deletes the claim, so the next run tries
again; a claim whose sender died or was cut off mid-send stays as it is (`sending`,
or `unknown`) and is listed, never resent by itself: a duplicate is worse than a
reminder that may not have arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from scheduler.store.schema import UtcDateTime, metadata

BOOKED, REMINDER = "booked", "reminder"
SENDING, SENT, UNKNOWN = "sending", "sent", "unknown"
#: `page_requests.status`: recorded by the page; done by the leader; could not be done.
PENDING, DONE, FAILED = "pending", "done", "failed"

notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", String(100), nullable=False),
    Column("session_key", String(64), nullable=False),
    Column("kind", String(20), nullable=False),  # booked | reminder
    Column("manager_id", String(100), nullable=False),
    Column("status", String(20), nullable=False),  # sending | sent | unknown
    Column("message_id", String(300), nullable=False, default=""),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    UniqueConstraint("session_key", "kind", name="uq_notice"),
)

page_requests = Table(
    # "Ask for a new time" from the manager's page: the page (any instance, standby
    # too) records it; the leader cancels and rebooks, so only it writes calendars.
    "page_requests",
    metadata,
    Column("session_key", String(64), primary_key=True),
    Column("org_id", String(100), nullable=False),
    Column("manager_id", String(100), nullable=False),
    Column("status", String(20), nullable=False),  # pending | done | failed
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("done_at", UtcDateTime()),
    Column("detail", Text, nullable=False, default=""),
)

Fence = Callable[[], None]
#: A `sending` claim older than this has lost its sender (a send takes seconds).
STALE_CLAIM = timedelta(minutes=30)


def _no_fence() -> None:
    return None


class NoticeStore:
    """The two tables over the store's engine. `fence` runs before every write of
    the leader's work (claims); the page's own writes pass `fence=None`."""

    def __init__(self, engine: Engine, fence: Fence | None = None) -> None:
        self.engine = engine
        self.fence = fence or _no_fence

    # -- notices ---------------------------------------------------------------

    def claim(
        self, org_id: str, session_key: str, kind: str, manager_id: str, *, now: datetime
    ) -> bool:
        """Claim the right to send `kind` for the session; False when it is claimed."""
        self.fence()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(notices).values(
                        org_id=org_id,
                        session_key=session_key,
                        kind=kind,
                        manager_id=manager_id,
                        status=SENDING,
                        message_id="",
                        claimed_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def claim_many(
        self, org_id: str, session_keys: Sequence[str], kind: str, manager_id: str, *, now: datetime
    ) -> list[str]:
        """Claim several sessions' notices; returns those this call claimed. One
        transaction when nobody else holds any (the usual case: a manager's sessions
        at once, not one round trip each); one by one when someone does."""
        if not session_keys:
            return []
        self.fence()
        rows = [
            {
                "org_id": org_id,
                "session_key": key,
                "kind": kind,
                "manager_id": manager_id,
                "status": SENDING,
                "message_id": "",
                "claimed_at": now,
            }
            for key in session_keys
        ]
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(notices), rows)
            return list(session_keys)
        except IntegrityError:
            pass
        return [k for k in session_keys if self.claim(org_id, k, kind, manager_id, now=now)]

    def claimed(self, session_keys: Sequence[str], kind: str) -> set[str]:
        if not session_keys:
            return set()
        found: set[str] = set()
        keys = list(session_keys)
        with self.engine.connect() as conn:
            for at in range(0, len(keys), 500):  # bound the IN list
                rows = conn.execute(
                    select(notices.c.session_key).where(
                        and_(notices.c.kind == kind, notices.c.session_key.in_(keys[at : at + 500]))
                    )
                )
                found.update(r.session_key for r in rows)
        return found

    def _set(self, keys: Sequence[str], kind: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(notices)
                .where(and_(notices.c.kind == kind, notices.c.session_key.in_(list(keys))))
                .where(notices.c.status == SENDING)
                .values(**values)
            )

    def sent(self, keys: Sequence[str], kind: str, *, message_id: str, now: datetime) -> None:
        # Not fenced: it records what this process did, even after a step-down.
        self._set(keys, kind, status=SENT, message_id=message_id, sent_at=now)

    def unknown(self, keys: Sequence[str], kind: str, *, message_id: str) -> None:
        self._set(keys, kind, status=UNKNOWN, message_id=message_id)

    def release(self, keys: Sequence[str], kind: str) -> None:
        """The send failed for certain: free the claims for the next run."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(notices)
                .where(and_(notices.c.kind == kind, notices.c.session_key.in_(list(keys))))
                .where(notices.c.status == SENDING)
            )

    def unsettled(
        self, org_id: str, *, now: datetime, stale_after: timedelta = STALE_CLAIM
    ) -> list[dict[str, Any]]:
        """Claims whose outcome nobody knows, never resent by themselves: cut off
        mid-send (`unknown`), or `sending` for longer than a send takes (its sender
        died). For `remind`, `/readyz` and the morning's log."""
        with self.engine.connect() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(notices)
                    .where(
                        and_(notices.c.org_id == org_id, notices.c.status.in_([SENDING, UNKNOWN]))
                    )
                    .order_by(notices.c.id)
                )
            ]
        return [r for r in rows if r["status"] == UNKNOWN or now - r["claimed_at"] >= stale_after]

    def of_session(self, session_key: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(notices).where(notices.c.session_key == session_key).order_by(notices.c.id)
            )
            return [dict(r._mapping) for r in rows]

    # -- page requests ---------------------------------------------------------

    def request(self, org_id: str, session_key: str, manager_id: str, *, now: datetime) -> bool:
        """Record a request for a new time; False when the session has one already."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(page_requests).values(
                        session_key=session_key,
                        org_id=org_id,
                        manager_id=manager_id,
                        status=PENDING,
                        requested_at=now,
                        detail="",
                    )
                )
        except IntegrityError:
            return False
        return True

    def request_of(self, session_key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(page_requests).where(page_requests.c.session_key == session_key)
            ).first()
        return dict(row._mapping) if row else None

    def pending_requests(self, org_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(page_requests)
                .where(and_(page_requests.c.org_id == org_id, page_requests.c.status == PENDING))
                .order_by(page_requests.c.requested_at)
            )
            return [dict(r._mapping) for r in rows]

    def finish_request(self, session_key: str, *, ok: bool, detail: str, now: datetime) -> None:
        self.fence()
        with self.engine.begin() as conn:
            conn.execute(
                update(page_requests)
                .where(page_requests.c.session_key == session_key)
                .where(page_requests.c.status == PENDING)
                .values(status=DONE if ok else FAILED, detail=detail[:2000], done_at=now)
            )
