"""the order's steps (its timeline as the storefront shows it), numbered per order; orders by email

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("last_step", sa.Integer, nullable=False, server_default="0"))
    op.create_index("orders_email", "orders", ["email"])
    op.create_table(
        "order_steps",
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(50)),
    )


def downgrade() -> None:
    op.drop_table("order_steps")
    op.drop_index("orders_email", "orders")
    op.drop_column("orders", "last_step")
