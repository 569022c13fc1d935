"""Tables of the store. Alembic migrations (scheduler/store/migrations) create them; this
module is the one description the code and the migrations share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone)
    and PostgreSQL (timestamptz) alike. A naive value is a bug and is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime given to the store: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

sessions = Table(
    "sessions",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("org_id", String(100), nullable=False),
    Column("team_id", String(100), nullable=False),
    Column("manager_id", String(100), nullable=False),
    Column("seller_id", String(100), nullable=False),
    Column("month", String(7), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("start_at", UtcDateTime()),
    Column("end_at", UtcDateTime()),
    Column("event_id", String(1024)),
    Column("connector", String(40), nullable=False, default=""),
    Column("video_url", Text),
    Column("reason", Text, nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("followups", Text, nullable=False, default=""),
    Column("verified", Boolean, nullable=False, default=False),
    Column("moved", Boolean, nullable=False, default=False),
    # What the meeting provider said about the session's meeting (0003): its last
    # answer, when it was asked, and when that answer became final (never asked again).
    Column("attendance_status", String(20)),
    Column("attendance_detail", Text, nullable=False, default=""),
    Column("attendance_checked_at", UtcDateTime()),
    Column("attendance_settled_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("org_id", "manager_id", "seller_id", "month", "attempt", name="uq_attempt"),
)
Index("ix_sessions_month", sessions.c.org_id, sessions.c.month)
# Every reconcile asks for the sessions that ended lately and are not settled.
Index("ix_sessions_end", sessions.c.org_id, sessions.c.end_at)

session_history = Table(
    "session_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("connector", String(40), primary_key=True),
    Column("calendar_id", String(1024), primary_key=True),
    Column("window", String(40), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(40), nullable=False),
    Column("period", String(40), nullable=False),
    Column("status", String(20), nullable=False),  # running | done | failed
    Column("owner", String(200), nullable=False, default=""),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("detail", Text, nullable=False, default=""),
    UniqueConstraint("job", "period", name="uq_job_period"),
)

sent_reports = Table(
    "sent_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", String(100), nullable=False),
    Column("month", String(7), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("sequence", Integer, nullable=False),  # 0 first send, 1.. explicit resends
    Column("status", String(20), nullable=False),  # sending | sent | unknown | resent
    Column("message_id", String(300), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    UniqueConstraint("org_id", "month", "recipient", "sequence", name="uq_report_send"),
)

month_themes = Table(
    # The focus theme each month got when its first agenda was rendered: editing the
    # theme list later never changes a month already planned.
    "month_themes",
    metadata,
    Column("org_id", String(100), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("title", Text, nullable=False),
    Column("bullets", Text, nullable=False),  # JSON list of the theme's points
    Column("pinned_at", UtcDateTime(), nullable=False),
)
