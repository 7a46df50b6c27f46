"""Payments: one per order, found again by its idempotency key.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Text, primary_key=True),
        # UNIQUE on both: the database, not the code, guarantees one payment per order.
        sa.Column("order_id", sa.Text, nullable=False, unique=True),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("payment_token", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("decline_code", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount_cents > 0", name="payments_amount_positive"),
        sa.CheckConstraint("status IN ('CAPTURED', 'DECLINED', 'REFUNDED')", name="payments_status_known"),
    )
    op.create_index("payments_by_age", "payments", ["created_at"])


def downgrade() -> None:
    op.drop_table("payments")
