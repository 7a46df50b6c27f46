"""UNDELIVERABLE: a notification whose recipient the mail server refused for good

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _status_check(statuses: tuple[str, ...]) -> None:
    op.drop_constraint("notifications_status_check", "notifications", type_="check")
    allowed = ", ".join(f"'{status}'" for status in statuses)
    op.create_check_constraint("notifications_status_check", "notifications", f"status IN ({allowed})")


def upgrade() -> None:
    _status_check(("PENDING", "SENT", "UNDELIVERABLE"))


def downgrade() -> None:
    # Fails (check violation) while UNDELIVERABLE notifications exist.
    _status_check(("PENDING", "SENT"))
