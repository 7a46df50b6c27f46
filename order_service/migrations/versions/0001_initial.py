"""orders, their transitions, idempotency keys, outbox and inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from messaging.inbox import inbox_table
from messaging.outbox import outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "'PENDING','RESERVED','PAYMENT_PENDING','CONFIRMED','SHIPPED','REJECTED','FAILED','CANCELLED'"


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(100), nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("items", JSONB, nullable=False),
        sa.Column("total_cents", sa.Integer),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment_token", sa.String(100), nullable=False),
        sa.Column("failure_reason", sa.String(50)),
        sa.Column("failed_step", sa.String(50)),
        sa.Column("stock_settled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("payment_settled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="orders_status_known"),
    )
    # The sweeper's query: orders still needing work whose time has come.
    op.create_index(
        "orders_needing_work",
        "orders",
        ["next_attempt_at"],
        postgresql_where=sa.text(
            "status IN ('PENDING','RESERVED','PAYMENT_PENDING') OR NOT stock_settled OR NOT payment_settled"
        ),
    )
    op.create_table(
        "order_transitions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("from_status", sa.String(20)),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id")),
        sa.Column("response_status", sa.Integer),
        sa.Column("response_body", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    # The shared plumbing tables, exactly as messaging defines them.
    bind = op.get_bind()
    shared = sa.MetaData()
    outbox_table(shared).create(bind)
    inbox_table(shared).create(bind)


def downgrade() -> None:
    for table in ("inbox", "outbox", "idempotency_keys", "order_transitions", "orders"):
        op.drop_table(table)
