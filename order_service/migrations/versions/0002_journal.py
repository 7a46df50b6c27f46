"""the journal's index: one row per event of the journal stream, and the position read

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("stream_offset", sa.BigInteger, nullable=False),
        sa.Column("order_id", sa.String(100), index=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("producer", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(32)),
    )
    op.create_table(
        "journal_position",
        sa.Column("stream", sa.String(100), primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("journal_position")
    op.drop_table("journal")
