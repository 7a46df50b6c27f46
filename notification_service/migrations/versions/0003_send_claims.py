"""A send claim (lease), so the mail goes out outside any transaction and is sent once.

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
    op.add_column("notifications", sa.Column("claimed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("notifications", "claimed_at")
