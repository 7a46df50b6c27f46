"""A notification kind for cancelled orders (from order.cancelled).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KINDS = ("order_confirmed", "order_rejected", "order_failed", "order_cancelled", "order_shipped")


def _kind_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint("notifications_kind_check", "notifications", type_="check")
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    op.create_check_constraint("notifications_kind_check", "notifications", f"kind IN ({allowed})")


def upgrade() -> None:
    _kind_check(KINDS)


def downgrade() -> None:
    # Fails (check violation) while order_cancelled notifications exist.
    _kind_check(tuple(kind for kind in KINDS if kind != "order_cancelled"))
