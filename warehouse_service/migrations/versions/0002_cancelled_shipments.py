"""Shipments may be CANCELLED (order.cancelled before dispatch), with cancelled_at.

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
    op.add_column("shipments", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.drop_constraint("shipments_status_check", "shipments", type_="check")
    op.create_check_constraint(
        "shipments_status_check", "shipments", "status IN ('PENDING', 'DISPATCHED', 'CANCELLED')"
    )
    op.create_check_constraint(
        "shipments_cancelled_at_check", "shipments", "(status = 'CANCELLED') = (cancelled_at IS NOT NULL)"
    )


def downgrade() -> None:
    # Fails (check violation) while CANCELLED shipments exist: they have no older name.
    op.drop_constraint("shipments_cancelled_at_check", "shipments", type_="check")
    op.drop_constraint("shipments_status_check", "shipments", type_="check")
    op.create_check_constraint("shipments_status_check", "shipments", "status IN ('PENDING', 'DISPATCHED')")
    op.drop_column("shipments", "cancelled_at")
