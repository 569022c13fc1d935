"""Attendance: what the meeting provider said about each session's meeting.

`attendance_status` (the last `AttendanceStatus` answered, NULL never), its detail,
when it was last asked and when the answer became final (settled sessions are never
asked again). Existing sessions start unasked: those that ended within the asking
window are asked by the next reconcile, older ones stay as they are.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("attendance_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("attendance_detail", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("attendance_checked_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("attendance_settled_at", UtcDateTime(), nullable=True))
    op.create_index("ix_sessions_end", "sessions", ["org_id", "end_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_end", "sessions")
    with op.batch_alter_table("sessions") as batch:
        for column in (
            "attendance_settled_at",
            "attendance_checked_at",
            "attendance_detail",
            "attendance_status",
        ):
            batch.drop_column(column)
