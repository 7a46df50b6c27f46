"""Shipments keep the traceparent of the order.confirmed handling that created them, so
their dispatch (later, by beat's task) and shipment.dispatched join the order's trace.

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
    # Nullable, no default: adding it rewrites nothing; older shipments dispatch in a new trace.
    op.add_column("shipments", sa.Column("traceparent", sa.Text))


def downgrade() -> None:
    op.drop_column("shipments", "traceparent")
