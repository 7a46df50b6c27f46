"""notifications and inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from messaging.inbox import inbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("order_id", "kind", name="notifications_order_id_kind_key"),
        sa.CheckConstraint(
            "kind IN ('order_confirmed', 'order_rejected', 'order_failed', 'order_shipped')",
            name="notifications_kind_check",
        ),
        sa.CheckConstraint("status IN ('PENDING', 'SENT')", name="notifications_status_check"),
    )
    op.create_index(
        "notifications_pending",
        "notifications",
        ["created_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    # The shared plumbing's table, created from its own definition so it never drifts.
    inbox_table(sa.MetaData()).create(op.get_bind())


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("notifications")
