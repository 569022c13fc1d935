"""Initial store: sessions with history, sync cursors, job runs, sent reports.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(100), nullable=False),
        sa.Column("team_id", sa.String(100), nullable=False),
        sa.Column("manager_id", sa.String(100), nullable=False),
        sa.Column("seller_id", sa.String(100), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("start_at", UtcDateTime()),
        sa.Column("end_at", UtcDateTime()),
        sa.Column("event_id", sa.String(1024)),
        sa.Column("connector", sa.String(40), nullable=False),
        sa.Column("video_url", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("followups", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("moved", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint(
            "org_id", "manager_id", "seller_id", "month", "attempt", name="uq_attempt"
        ),
    )
    op.create_index("ix_sessions_month", "sessions", ["org_id", "month"])
    op.create_table(
        "session_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("from_state", sa.String(20)),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_session_history_key", "session_history", ["key"])
    op.create_table(
        "sync_cursors",
        sa.Column("connector", sa.String(40), primary_key=True),
        sa.Column("calendar_id", sa.String(1024), primary_key=True),
        sa.Column("window", sa.String(40), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime()),
        sa.Column("detail", sa.Text, nullable=False),
        sa.UniqueConstraint("job", "period", name="uq_job_period"),
    )
    op.create_table(
        "sent_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.String(100), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime()),
        sa.UniqueConstraint("org_id", "month", "recipient", "sequence", name="uq_report_send"),
    )


def downgrade() -> None:
    for table in ("sent_reports", "job_runs", "sync_cursors", "session_history", "sessions"):
        op.drop_table(table)
