"""Refunds: when a payment was refunded (status REFUNDED was already allowed).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("refunded_at", sa.DateTime(timezone=True)))
    # No row can be REFUNDED yet (nothing wrote that status before this revision), but be exact.
    op.execute("UPDATE payments SET refunded_at = updated_at WHERE status = 'REFUNDED'")
    op.create_check_constraint(
        "payments_refunded_at_set", "payments", "(status = 'REFUNDED') = (refunded_at IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_constraint("payments_refunded_at_set", "payments", type_="check")
    op.drop_column("payments", "refunded_at")
