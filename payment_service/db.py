"""The payments table and its queries (SQLAlchemy Core), run inside the caller's transaction."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from messaging.database import from_row
from payment_service.domain import Payment, PaymentStatus

metadata = sa.MetaData()

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False, unique=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("payment_token", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("decline_code", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("refunded_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("amount_cents > 0", name="payments_amount_positive"),
    sa.CheckConstraint("status IN ('CAPTURED', 'DECLINED', 'REFUNDED')", name="payments_status_known"),
    sa.CheckConstraint("(status = 'REFUNDED') = (refunded_at IS NOT NULL)", name="payments_refunded_at_set"),
    sa.Index("payments_by_age", "created_at"),
)


def _payment(row: sa.Row) -> Payment:
    return from_row(Payment, row, status=PaymentStatus(row.status))


def insert_payment_once(connection: sa.Connection, *, payment: dict[str, object]) -> Payment | None:
    """The new payment, or None when a payment with the same order or key exists. A
    concurrent insert of the same key waits here for the other transaction to end."""
    row = connection.execute(
        insert(payments).values(**payment).on_conflict_do_nothing().returning(payments)
    ).first()
    return _payment(row) if row else None


def find_by_idempotency_key(connection: sa.Connection, *, idempotency_key: str) -> Payment | None:
    row = connection.execute(sa.select(payments).where(payments.c.idempotency_key == idempotency_key)).first()
    return _payment(row) if row else None


def lock_payment_of_order(connection: sa.Connection, *, order_id: str) -> Payment | None:
    """The order's payment, locked until the transaction ends: concurrent refunds queue here."""
    row = connection.execute(
        sa.select(payments).where(payments.c.order_id == order_id).with_for_update()
    ).first()
    return _payment(row) if row else None


def mark_refunded(connection: sa.Connection, *, payment_id: str) -> Payment:
    row = connection.execute(
        payments.update()
        .where(payments.c.id == payment_id)
        .values(status=PaymentStatus.REFUNDED.value, refunded_at=sa.func.now(), updated_at=sa.func.now())
        .returning(payments)
    ).one()
    return _payment(row)


def find_payment(connection: sa.Connection, *, payment_id: str) -> Payment | None:
    row = connection.execute(sa.select(payments).where(payments.c.id == payment_id)).first()
    return _payment(row) if row else None


def list_payments(connection: sa.Connection, *, order_id: str | None, limit: int) -> list[Payment]:
    query = sa.select(payments).order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit)
    if order_id is not None:
        query = query.where(payments.c.order_id == order_id)
    return [_payment(row) for row in connection.execute(query)]
