"""Products, reservations and their lines.

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


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("available", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sold", sa.Integer, nullable=False, server_default="0"),
        _timestamp("updated_at"),
        sa.CheckConstraint("price_cents >= 0", name="products_price_cents_not_negative"),
        sa.CheckConstraint("available >= 0", name="products_available_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="products_reserved_not_negative"),
        sa.CheckConstraint("sold >= 0", name="products_sold_not_negative"),
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('RESERVED', 'COMMITTED', 'RELEASED')", name="reservations_status_known"
        ),
    )
    op.create_table(
        "reservation_lines",
        sa.Column("order_id", sa.Text, sa.ForeignKey("reservations.order_id"), primary_key=True),
        sa.Column("sku", sa.Text, sa.ForeignKey("products.sku"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_cents", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="reservation_lines_quantity_positive"),
        sa.CheckConstraint("unit_price_cents >= 0", name="reservation_lines_unit_price_not_negative"),
    )


def downgrade() -> None:
    op.drop_table("reservation_lines")
    op.drop_table("reservations")
    op.drop_table("products")
