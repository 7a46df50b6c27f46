"""Notifications keep the traceparent of the event handling that recorded them, so the email
(sent later, by a task in another process) joins the order's trace.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing; older notifications send in a new trace.
    op.add_column("notifications", sa.Column("traceparent", sa.Text))


def downgrade() -> None:
    op.drop_column("notifications", "traceparent")
