"""The notification service's outbox: each email recorded SENT puts its notification.sent event
there in the same statement, and notification-relay publishes it.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from messaging.outbox import outbox_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The shared plumbing's table, created from its own definition so it never drifts. Emails
    # sent before it existed announce nothing (their orders' timelines lack those steps).
    outbox_table(sa.MetaData()).create(op.get_bind())


def downgrade() -> None:
    op.drop_table("outbox")
