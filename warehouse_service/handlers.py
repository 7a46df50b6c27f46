"""Warehouse use cases: one transaction each."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from itertools import groupby

import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.trace import Span

from messaging.envelope import Envelope, PoisonEvent, new_event
from messaging.logs import event_ids
from messaging.tracing import event_traceparent, start_span, traceparent_of
from warehouse_service import db
from warehouse_service.domain import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    SHIPMENT_DISPATCHED,
    SOURCE,
    CancelledOrder,
    CancelOutcome,
    DispatchedShipment,
    InvalidOrderEvent,
    Shipment,
    ShipmentNotFound,
    ShipmentRequest,
    cancel_outcome,
    cancelled_order_from_event,
    dispatched_event_data,
    shipment_request_from_event,
)

log = logging.getLogger(__name__)


def handle_events(*, engine: sa.Engine, envelopes: list[Envelope], dispatch_delay_seconds: float) -> None:
    """The consumer step's handler (and POST /events'): acts on order.confirmed and
    order.cancelled, skips anything else unread (a binding added later must not dead-letter
    events the warehouse has no use for). Several events in one transaction, in their order:
    all take effect or none does. Every event is read first, so a poison one fails the batch
    before any transaction; a run of order.confirmed events is written with one statement
    per table."""
    readings = [(envelope, reading) for envelope in envelopes if (reading := _read(envelope)) is not None]
    if not readings:
        return
    created: list[tuple[Envelope, str]] = []
    with engine.begin() as connection:
        for cancels, run in groupby(readings, key=lambda pair: isinstance(pair[1], CancelledOrder)):
            if cancels:
                for envelope, order in run:
                    _cancel_for_event(connection, envelope=envelope, order=order)
            else:
                created += _create_all(connection, list(run), dispatch_delay_seconds=dispatch_delay_seconds)
    for envelope, shipment_id in created:  # once committed
        log.info("shipment %s created", shipment_id, extra=event_ids(envelope))


def _read(envelope: Envelope) -> ShipmentRequest | CancelledOrder | None:
    """What the event asks of the warehouse; None for events it has no use for."""
    try:
        if envelope.type == ORDER_CONFIRMED:
            return shipment_request_from_event(envelope.data)
        if envelope.type == ORDER_CANCELLED:
            return cancelled_order_from_event(envelope.data)
    except InvalidOrderEvent as error:
        raise PoisonEvent(str(error)) from error
    log.info("ignoring %s event %s", envelope.type, envelope.id)
    return None


def _create_all(
    connection: sa.Connection,
    confirmed: list[tuple[Envelope, ShipmentRequest]],
    *,
    dispatch_delay_seconds: float,
) -> list[tuple[Envelope, str]]:
    """PENDING shipments for the events not handled before (inbox) whose order has none yet;
    returns each one created, with its event."""
    first_time = db.inbox.first_deliveries(
        connection, [(envelope.id, envelope.type) for envelope, _ in confirmed]
    )
    new = []
    for envelope, request in confirmed:
        if envelope.id in first_time:
            first_time.discard(envelope.id)  # the same event twice in one batch: once
            shipment = db.NewShipment(
                str(uuid.uuid4()), request, envelope.correlationid, traceparent=event_traceparent(envelope)
            )
            new.append((envelope, shipment))
    created = db.insert_shipments(
        connection,
        [shipment for _, shipment in new],
        dispatch_delay=timedelta(seconds=dispatch_delay_seconds),
    )
    for envelope, shipment in new:
        if shipment.shipment_id not in created:
            log.info(
                "order %s already has a shipment (maybe a cancelled one)", shipment.request.order_id,
                extra=event_ids(envelope),
            )  # fmt: skip
    return [(envelope, shipment.shipment_id) for envelope, shipment in new if shipment.shipment_id in created]


def _cancel_for_event(connection: sa.Connection, *, envelope: Envelope, order: CancelledOrder) -> None:
    """order.cancelled: see `_cancel`; nothing when this event was already handled (inbox)."""
    if db.inbox.first_delivery(connection, message_id=envelope.id, event_type=envelope.type):
        _cancel(connection, order=order, correlation_id=envelope.correlationid)


def cancel_shipment_now(*, engine: sa.Engine, order_id: str) -> tuple[CancelOutcome, Shipment]:
    """POST /shipments/{order_id}/cancel: the same decision, answered to the order service
    before it calls the order cancelled; returns the outcome and the shipment as it is now."""
    with engine.begin() as connection:
        outcome = _cancel(connection, order=CancelledOrder(order_id=order_id, email=""), correlation_id=None)
        shipment = db.select_shipments(connection, order_id=order_id, limit=1)[0]
    return outcome, shipment


def _cancel(connection: sa.Connection, *, order: CancelledOrder, correlation_id: str | None) -> CancelOutcome:
    """Stops the order's shipment unless it already left: PENDING becomes CANCELLED (the
    dispatcher only takes PENDING), DISPATCHED stays, and an order with no shipment yet
    gets a CANCELLED one so that its order.confirmed, arriving late, creates nothing. The
    row lock makes this atomic against the dispatcher."""
    outcome = cancel_outcome(current=db.lock_shipment_status(connection, order_id=order.order_id))
    if outcome is CancelOutcome.TOMBSTONE and not db.insert_cancelled(
        connection, shipment_id=str(uuid.uuid4()), order=order, correlation_id=correlation_id
    ):
        # An order.confirmed committed its shipment meanwhile: cancel that one instead.
        outcome = cancel_outcome(current=db.lock_shipment_status(connection, order_id=order.order_id))
    if outcome is CancelOutcome.CANCELLED:
        db.mark_cancelled(connection, order_id=order.order_id)
    if outcome is CancelOutcome.TOO_LATE:
        log.warning("order %s was cancelled after its shipment was dispatched", order.order_id)
    else:
        log.info("order %s cancelled: shipment %s", order.order_id, outcome)
    return outcome


def dispatch_due_shipments(*, engine: sa.Engine, limit: int = 100) -> int:
    """Dispatches due shipments; each gets its shipment.dispatched event in the outbox,
    in the same transaction. Returns how many were dispatched. Each dispatch has a span, child
    of the one that created the shipment (its order's trace), which its event continues."""
    spans: list[Span] = []
    try:
        with engine.begin() as connection:
            dispatched = db.mark_due_shipments_dispatched(connection, limit=limit)
            spans = [start_span("dispatch shipment", traceparent=each.traceparent) for each in dispatched]
            events = [
                shipment_dispatched_event(shipment, traceparent=traceparent_of(span.get_span_context()))
                for shipment, span in zip(dispatched, spans, strict=True)
            ]
            for event in events:
                db.outbox.add(connection, event)
        for shipment, event, span in zip(dispatched, events, spans, strict=True):  # once committed
            with trace.use_span(span):
                log.info(
                    "shipment %s dispatched: %s %s", shipment.shipment_id, event.type, event.id,
                    extra=event_ids(event),
                )  # fmt: skip
    finally:
        for span in spans:
            span.end()
    return len(dispatched)


def shipment_dispatched_event(shipment: DispatchedShipment, *, traceparent: str | None = None) -> Envelope:
    return new_event(
        type=SHIPMENT_DISPATCHED,
        source=SOURCE,
        subject=shipment.order_id,
        correlationid=shipment.correlation_id,
        data=dispatched_event_data(shipment),
        traceparent=traceparent,
    )


def get_shipment(*, engine: sa.Engine, shipment_id: str) -> Shipment:
    with engine.connect() as connection:
        shipment = db.select_shipment(connection, shipment_id=shipment_id)
    if shipment is None:
        raise ShipmentNotFound(shipment_id)
    return shipment


def list_shipments(*, engine: sa.Engine, order_id: str | None, limit: int) -> list[Shipment]:
    with engine.connect() as connection:
        return db.select_shipments(connection, order_id=order_id, limit=limit)
