"""Warehouse tables and the queries the handlers need (SQLAlchemy Core)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert

from messaging.database import first_unlocked, from_row
from messaging.inbox import Inbox, inbox_table
from messaging.outbox import Outbox, outbox_table
from warehouse_service.domain import (
    CancelledOrder,
    DispatchedShipment,
    Shipment,
    ShipmentLine,
    ShipmentRequest,
    ShipmentStatus,
)

metadata = sa.MetaData()

shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    # One shipment per order, whatever the number of order.confirmed events (ids) about it.
    sa.Column("order_id", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False, server_default=ShipmentStatus.PENDING.value),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("items", JSONB, nullable=False),
    sa.Column("correlation_id", sa.Text),  # copied onto shipment.dispatched
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("dispatch_after", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dispatched_at", sa.DateTime(timezone=True)),
    sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    # The span that created it (W3C traceparent): the dispatch continues the order's trace.
    sa.Column("traceparent", sa.Text),
    sa.CheckConstraint("status IN ('PENDING', 'DISPATCHED', 'CANCELLED')", name="shipments_status_check"),
    sa.CheckConstraint(
        "(status = 'DISPATCHED') = (dispatched_at IS NOT NULL)", name="shipments_dispatched_at_check"
    ),
    sa.CheckConstraint(
        "(status = 'CANCELLED') = (cancelled_at IS NOT NULL)", name="shipments_cancelled_at_check"
    ),
    # The dispatcher's scan: only the rows still waiting.
    sa.Index("shipments_due", "dispatch_after", postgresql_where=sa.text("status = 'PENDING'")),
)
inbox = Inbox(inbox_table(metadata), consumer="warehouse.orders")  # the queue (metrics label)
outbox = Outbox(outbox_table(metadata))

SHIPMENT_COLUMNS = (
    shipments.c.id,
    shipments.c.order_id,
    shipments.c.status,
    shipments.c.email,
    shipments.c["items"],  # not .c.items: that is the collection's method
    shipments.c.created_at,
    shipments.c.dispatched_at,
    shipments.c.cancelled_at,
)


@dataclass(frozen=True)
class NewShipment:
    shipment_id: str
    request: ShipmentRequest
    correlation_id: str | None
    traceparent: str | None = None


def insert_shipments(
    connection: sa.Connection, new: list[NewShipment], *, dispatch_delay: timedelta
) -> set[str]:
    """One statement for them all; returns the ids of the shipments created (an order that
    already has a shipment keeps it, and two for one order here make one)."""
    if not new:
        return set()
    rows = [
        {
            "id": shipment.shipment_id,
            "order_id": shipment.request.order_id,
            "email": shipment.request.email,
            "items": [line.to_dict() for line in shipment.request.lines],
            "correlation_id": shipment.correlation_id,
            "traceparent": shipment.traceparent,
            "dispatch_delay": dispatch_delay,
        }
        for shipment in new
    ]
    return set(connection.execute(_INSERT_NEW_SHIPMENTS, rows).scalars())


# Built once and executed with a list of rows (one multi-row INSERT, compiled once).
_INSERT_NEW_SHIPMENTS = (
    insert(shipments)
    # The database's clock, the same one the dispatcher compares against.
    .values(dispatch_after=sa.func.now() + sa.bindparam("dispatch_delay", type_=sa.Interval))
    .on_conflict_do_nothing(index_elements=["order_id"])
    .returning(shipments.c.id)
)


def lock_shipment_status(connection: sa.Connection, *, order_id: str) -> ShipmentStatus | None:
    """The status of the order's shipment, locked until the transaction ends (a dispatcher
    holding it makes this wait, then read DISPATCHED); None when it has none."""
    status = connection.execute(
        sa.select(shipments.c.status).where(shipments.c.order_id == order_id).with_for_update()
    ).scalar_one_or_none()
    return None if status is None else ShipmentStatus(status)


def mark_cancelled(connection: sa.Connection, *, order_id: str) -> None:
    connection.execute(
        shipments.update()
        .where(shipments.c.order_id == order_id, shipments.c.status == ShipmentStatus.PENDING.value)
        .values(status=ShipmentStatus.CANCELLED.value, cancelled_at=sa.func.now())
    )


def insert_cancelled(
    connection: sa.Connection, *, shipment_id: str, order: CancelledOrder, correlation_id: str | None
) -> bool:
    """A CANCELLED shipment for an order the warehouse has not seen confirmed: the unique
    order_id then turns a late order.confirmed into a no-op. False when the order already
    has a shipment (an order.confirmed committed meanwhile: ON CONFLICT waited for it)."""
    result = connection.execute(
        insert(shipments)
        .values(
            id=shipment_id,
            order_id=order.order_id,
            status=ShipmentStatus.CANCELLED.value,
            email=order.email,
            items=[],
            correlation_id=correlation_id,
            dispatch_after=sa.func.now(),
            cancelled_at=sa.func.now(),
        )
        .on_conflict_do_nothing(index_elements=["order_id"])
    )
    return result.rowcount == 1


def mark_due_shipments_dispatched(connection: sa.Connection, *, limit: int) -> list[DispatchedShipment]:
    """Claims and dispatches up to `limit` due shipments. SKIP LOCKED: concurrent
    dispatchers take disjoint rows, and Postgres re-checks status on rows freed meanwhile."""
    due = first_unlocked(
        shipments.c.id,
        where=[
            shipments.c.status == ShipmentStatus.PENDING.value,
            shipments.c.dispatch_after <= sa.func.now(),
        ],
        order_by=[shipments.c.dispatch_after],
        limit=limit,
    )
    rows = connection.execute(
        shipments.update()
        .where(shipments.c.id.in_(due.scalar_subquery()))
        .values(status=ShipmentStatus.DISPATCHED.value, dispatched_at=sa.func.now())
        .returning(
            shipments.c.id,
            shipments.c.order_id,
            shipments.c.email,
            shipments.c.correlation_id,
            shipments.c.dispatched_at,
            shipments.c.traceparent,
        )
    ).all()
    return [from_row(DispatchedShipment, row, shipment_id=row.id) for row in rows]


def select_shipments(connection: sa.Connection, *, order_id: str | None, limit: int) -> list[Shipment]:
    query = sa.select(*SHIPMENT_COLUMNS).order_by(shipments.c.created_at.desc(), shipments.c.id)
    if order_id is not None:
        query = query.where(shipments.c.order_id == order_id)
    return [_shipment(row) for row in connection.execute(query.limit(limit))]


def select_shipment(connection: sa.Connection, *, shipment_id: str) -> Shipment | None:
    row = connection.execute(sa.select(*SHIPMENT_COLUMNS).where(shipments.c.id == shipment_id)).first()
    return None if row is None else _shipment(row)


def _shipment(row: sa.Row) -> Shipment:
    return from_row(
        Shipment,
        row,
        shipment_id=row.id,
        status=ShipmentStatus(row.status),
        lines=tuple(ShipmentLine(sku=item["sku"], quantity=item["quantity"]) for item in row.items),
    )
