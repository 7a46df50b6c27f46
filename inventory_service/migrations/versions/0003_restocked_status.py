"""Reservations may be RESTOCKED: committed, then the order was cancelled and its units went back on sale.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("reservations_status_known", "reservations", type_="check")
    op.create_check_constraint(
        "reservations_status_known",
        "reservations",
        "status IN ('RESERVED', 'COMMITTED', 'RELEASED', 'RESTOCKED')",
    )


def downgrade() -> None:
    # Fails (check violation) while RESTOCKED rows exist: they have no older name.
    op.drop_constraint("reservations_status_known", "reservations", type_="check")
    op.create_check_constraint(
        "reservations_status_known", "reservations", "status IN ('RESERVED', 'COMMITTED', 'RELEASED')"
    )
