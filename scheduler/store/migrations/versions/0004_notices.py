"""Manager notices (booked, reminder e-mails) claimed before sending, and the
requests recorded by the manager's page.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.store.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.String(100), nullable=False),
        sa.Column("session_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("manager_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False, server_default=""),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime()),
        sa.UniqueConstraint("session_key", "kind", name="uq_notice"),
    )
    op.create_table(
        "page_requests",
        sa.Column("session_key", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(100), nullable=False),
        sa.Column("manager_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("done_at", UtcDateTime()),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("page_requests")
    op.drop_table("notices")
