"""Month themes: the focus theme pinned to each month when first used.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scheduler.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "month_themes",
        sa.Column("org_id", sa.String(100), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("bullets", sa.Text, nullable=False),
        sa.Column("pinned_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("month_themes")
