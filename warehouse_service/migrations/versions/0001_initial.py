"""shipments, inbox and outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from messaging.inbox import inbox_table
from messaging.outbox import outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("order_id", sa.Text, nullable=False, unique=True),
        sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("items", JSONB, nullable=False),
        sa.Column("correlation_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("dispatch_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('PENDING', 'DISPATCHED')", name="shipments_status_check"),
        sa.CheckConstraint(
            "(status = 'DISPATCHED') = (dispatched_at IS NOT NULL)", name="shipments_dispatched_at_check"
        ),
    )
    op.create_index(
        "shipments_due", "shipments", ["dispatch_after"], postgresql_where=sa.text("status = 'PENDING'")
    )
    # The shared plumbing's tables, created from its own definitions so they never drift.
    bind = op.get_bind()
    inbox_table(sa.MetaData()).create(bind)
    outbox_table(sa.MetaData()).create(bind)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("shipments")
