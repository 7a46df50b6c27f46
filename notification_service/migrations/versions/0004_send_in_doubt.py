"""An email whose sender died (or timed out) after it may have reached the SMTP server is
in doubt: before sending it again, a sender asks the mail server whether it has it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "notifications", sa.Column("in_doubt", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("notifications", "in_doubt")
