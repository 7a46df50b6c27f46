"""Reservation holds expire: expires_at (set when reserving), and why a reservation was released.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Holds taken before this revision get the default hold (RESERVATION_HOLD_SECONDS) from their
# last change, so that none of them is left holding stock forever.
DEFAULT_HOLD = "interval '600 seconds'"


def upgrade() -> None:
    op.add_column("reservations", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("reservations", sa.Column("release_reason", sa.Text))
    op.execute(f"UPDATE reservations SET expires_at = updated_at + {DEFAULT_HOLD} WHERE status = 'RESERVED'")
    op.execute("UPDATE reservations SET release_reason = 'order' WHERE status = 'RELEASED'")
    op.create_check_constraint(
        "reservations_hold_expires", "reservations", "status <> 'RESERVED' OR expires_at IS NOT NULL"
    )
    op.create_check_constraint(
        "reservations_release_reason_set",
        "reservations",
        "(status = 'RELEASED') = (release_reason IS NOT NULL)",
    )
    op.create_check_constraint(
        "reservations_release_reason_known", "reservations", "release_reason IN ('order', 'expired')"
    )
    op.create_index(
        "reservations_expiring",
        "reservations",
        ["expires_at"],
        postgresql_where=sa.text("status = 'RESERVED'"),
    )


def downgrade() -> None:
    op.drop_index("reservations_expiring", table_name="reservations")
    for name in (
        "reservations_release_reason_known",
        "reservations_release_reason_set",
        "reservations_hold_expires",
    ):
        op.drop_constraint(name, "reservations", type_="check")
    op.drop_column("reservations", "release_reason")
    op.drop_column("reservations", "expires_at")
