"""The inventory publishes its catalog: an outbox for the product events, and per product a
version (each change the events carry adds one) and removed_at (removal is soft: reservation
lines keep their product).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from messaging.outbox import outbox_table

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The shared plumbing's table, created from its own definition so it never drifts.
    outbox_table(sa.MetaData()).create(op.get_bind())
    # The expirer asks when the last snapshot was written (inventory_service/db.py).
    op.create_index(
        "outbox_snapshots",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("event_type = 'product.snapshot'"),
    )
    # Every product, the seeded ones included, starts at version 1; nothing announced them
    # yet: the expirer's first snapshot (no snapshot in the outbox) publishes them all.
    op.add_column("products", sa.Column("version", sa.BigInteger, nullable=False, server_default="1"))
    op.add_column("products", sa.Column("removed_at", sa.DateTime(timezone=True)))
    op.create_check_constraint("products_version_positive", "products", "version >= 1")


def downgrade() -> None:
    op.drop_constraint("products_version_positive", "products", type_="check")
    op.drop_column("products", "removed_at")
    op.drop_column("products", "version")
    op.drop_table("outbox")
