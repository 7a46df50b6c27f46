"""Warehouse use cases: one transaction each."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import sqlalchemy as sa

from messaging.consumer import PoisonEvent
from messaging.envelope import Envelope, new_event
from warehouse_service import db
from warehouse_service.domain import (
    ORDER_CONFIRMED,
    SHIPMENT_DISPATCHED,
    SOURCE,
    DispatchedShipment,
    InvalidOrderEvent,
    ShipmentNotFound,
    dispatched_event_data,
    shipment_request_from_event,
)

log = logging.getLogger(__name__)


def handle_event(*, engine: sa.Engine, envelope: Envelope, dispatch_delay_seconds: float) -> None:
    """The consumer step's handler: acts on order.confirmed, acks anything else unread
    (a binding added later must not dead-letter events the warehouse has no use for)."""
    if envelope.type != ORDER_CONFIRMED:
        log.info("ignoring %s event %s", envelope.type, envelope.id)
        return
    create_shipment(engine=engine, envelope=envelope, dispatch_delay_seconds=dispatch_delay_seconds)


def create_shipment(*, engine: sa.Engine, envelope: Envelope, dispatch_delay_seconds: float) -> str | None:
    """Records a PENDING shipment for an order.confirmed event; returns its id, or None
    when this event (inbox) or this order (unique order_id) was already handled."""
    try:
        request = shipment_request_from_event(envelope.data)
    except InvalidOrderEvent as error:
        raise PoisonEvent(str(error)) from error
    shipment_id = str(uuid.uuid4())
    with engine.begin() as connection:
        if not db.inbox.first_delivery(connection, message_id=envelope.id, event_type=envelope.type):
            return None
        created = db.insert_shipment(
            connection,
            shipment_id=shipment_id,
            request=request,
            correlation_id=envelope.correlationid,
            dispatch_delay=timedelta(seconds=dispatch_delay_seconds),
        )
    return shipment_id if created else None


def dispatch_due_shipments(*, engine: sa.Engine, limit: int = 100) -> int:
    """Dispatches due shipments; each gets its shipment.dispatched event in the outbox,
    in the same transaction. Returns how many were dispatched."""
    with engine.begin() as connection:
        dispatched = db.mark_due_shipments_dispatched(connection, limit=limit)
        for shipment in dispatched:
            db.outbox.add(connection, shipment_dispatched_event(shipment))
    return len(dispatched)


def shipment_dispatched_event(shipment: DispatchedShipment) -> Envelope:
    return new_event(
        type=SHIPMENT_DISPATCHED,
        source=SOURCE,
        subject=shipment.order_id,
        correlationid=shipment.correlation_id,
        data=dispatched_event_data(shipment),
    )


def get_shipment(*, engine: sa.Engine, shipment_id: str) -> dict:
    with engine.connect() as connection:
        shipment = db.select_shipment(connection, shipment_id=shipment_id)
    if shipment is None:
        raise ShipmentNotFound(shipment_id)
    return shipment


def list_shipments(*, engine: sa.Engine, order_id: str | None, limit: int) -> list[dict]:
    with engine.connect() as connection:
        return db.select_shipments(connection, order_id=order_id, limit=limit)
