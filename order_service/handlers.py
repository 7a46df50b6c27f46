"""Order use cases: place, cancel, read, react to shipments, recover stalled orders."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from messaging.envelope import Envelope, PoisonEvent
from messaging.web import Problem
from order_service import db, saga
from order_service.clients import DownstreamUnavailable
from order_service.domain import (
    IN_FLIGHT_STATUSES,
    FailureReason,
    IdempotencyKeyReused,
    IllegalTransition,
    OrderNotCancellable,
    OrderNotFound,
    OrderStatus,
    PlaceOrder,
    parse_place_order,
    request_fingerprint,
)
from order_service.saga import Dependencies

log = logging.getLogger(__name__)
UNAVAILABLE_REASONS = {
    FailureReason.INVENTORY_UNAVAILABLE: "inventory",
    FailureReason.PAYMENT_UNAVAILABLE: "payment",
}


@dataclass(frozen=True)
class Reply:
    """What POST /orders answers; a final one is stored with the idempotency key and replayed."""

    status: int
    body: dict[str, Any]
    order_id: str


def place_order(*, deps: Dependencies, idempotency_key: str, body: dict[str, Any]) -> Reply:
    command = parse_place_order(body)
    fingerprint = request_fingerprint(body)
    order_id = str(uuid.uuid4())
    with deps.engine.connect() as connection:
        order = db.insert_order(
            connection,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            values=_new_order(order_id, command, deps.currency),
            cause="POST /orders",
            hold_seconds=deps.hold_seconds,
        )
        if order is None:  # the key is taken: drop our order, answer as the first request did
            connection.rollback()
            return _replay(connection, key=idempotency_key, fingerprint=fingerprint)
        connection.commit()
    reply = reply_for(saga.advance(deps, order_id, order))
    if reply.status != 202:  # an unknown outcome is not an answer worth replaying
        with deps.engine.begin() as connection:
            db.record_response(
                connection, key=idempotency_key, order_id=order_id, status=reply.status, body=reply.body
            )
    return reply


def _new_order(order_id: str, command: PlaceOrder, currency: str) -> dict[str, Any]:
    return {
        "id": order_id,
        "customer_id": command.customer_id,
        "email": command.email,
        "status": OrderStatus.PENDING,
        "items": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price_cents": None} for line in command.items
        ],
        "currency": currency,
        "payment_token": command.payment_token,
    }


def _replay(connection: sa.Connection, *, key: str, fingerprint: str) -> Reply:
    stored = db.get_idempotency_key(connection, key=key)
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused(key)
    if stored.response_status is not None:
        return Reply(status=stored.response_status, body=stored.response_body, order_id=stored.order_id)
    # The first request is still running, died before answering, or answered 202: say where it is now.
    return reply_for(db.get_order(connection, order_id=stored.order_id))


def reply_for(order: sa.Row) -> Reply:
    if order.status in IN_FLIGHT_STATUSES:
        return Reply(status=202, body=db.order_json(order), order_id=order.id)
    dependency = UNAVAILABLE_REASONS.get(order.failure_reason)
    if order.status == OrderStatus.FAILED and dependency:
        problem = Problem(
            status=503,
            code=f"{dependency}-unavailable",
            title=f"The {dependency} service is unavailable; the order failed and nothing was charged",
            dependency=dependency,
            order=db.order_json(order),
        )
        return Reply(status=503, body=problem.to_dict(), order_id=order.id)
    return Reply(status=201, body=db.order_json(order), order_id=order.id)


class OrderAlreadyShipped(Exception):
    pass


def cancel_order(*, deps: Dependencies, order_id: str) -> dict[str, Any]:
    """Cancel before dispatch: the warehouse decides atomically whether the parcel left."""
    order = saga.load(deps, order_id)
    if order.status == OrderStatus.CANCELLED:
        return db.order_json(order)  # idempotent
    if order.status == OrderStatus.SHIPPED:
        raise OrderAlreadyShipped(order_id)
    if order.status != OrderStatus.CONFIRMED:
        raise OrderNotCancellable(order.status)
    if deps.warehouse.cancel_shipment(order_id=order_id):  # DownstreamUnavailable -> 503
        raise OrderAlreadyShipped(order_id)  # dispatched; shipment.dispatched is on its way
    try:
        order = saga.finish(
            deps, order, OrderStatus.CANCELLED, f"POST /orders/{order_id}/cancel", event="order.cancelled",
            stock_settled=False, payment_settled=False,
        )  # fmt: skip
    except IllegalTransition:
        order = saga.load(deps, order_id)
        if order.status != OrderStatus.CANCELLED:
            raise
    return db.order_json(saga.settle(deps, order))


def get_order(*, engine: sa.Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        return db.order_json(db.get_order(connection, order_id=order_id))


def order_timeline(*, engine: sa.Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        order = db.get_order(connection, order_id=order_id)
        return {
            "order_id": order_id,
            "status": order.status,
            "attempts": order.attempts,
            "stock_settled": order.stock_settled,
            "payment_settled": order.payment_settled,
            "next_attempt_at": order.next_attempt_at.isoformat(),
            "transitions": db.timeline(connection, order_id=order_id),
        }


def list_orders(
    *, engine: sa.Engine, customer_id: str | None, status: str | None, limit: int, cursor: int | None
) -> dict[str, Any]:
    with engine.connect() as connection:
        rows = db.list_orders(
            connection, customer_id=customer_id, status=status, limit=limit + 1, before_seq=cursor
        )
    page = rows[:limit]
    next_cursor = str(page[-1].seq) if len(rows) > limit else None
    return {"items": [db.order_json(row) for row in page], "next_cursor": next_cursor}


def record_shipment_dispatched(*, engine: sa.Engine, envelope: Envelope) -> None:
    record_shipments_dispatched(engine=engine, envelopes=[envelope])


def record_shipments_dispatched(*, engine: sa.Engine, envelopes: list[Envelope]) -> None:
    """shipment.dispatched -> order SHIPPED, once (inbox), whatever the redeliveries. The
    consumer step's batch handler: one transaction for the batch; an event for an unknown
    order raises PoisonEvent, which rolls the batch back for the step to retry it one by one."""
    with engine.begin() as connection:
        for envelope in envelopes:
            _ship(connection, envelope)


def _ship(connection: sa.Connection, envelope: Envelope) -> None:
    if envelope.type != "shipment.dispatched":
        return
    order_id = envelope.data["order_id"]
    if not db.inbox.first_delivery(connection, message_id=envelope.id, event_type=envelope.type):
        return
    try:
        db.transition(
            connection, order_id=order_id, target=OrderStatus.SHIPPED, cause=f"event {envelope.id}",
            hold_seconds=0,
        )  # fmt: skip
    except OrderNotFound as error:
        raise PoisonEvent(f"shipment for unknown order {order_id}") from error
    except IllegalTransition as error:
        if error.current != OrderStatus.SHIPPED:  # shipped already: another event said it first
            log.error("order %s: ignoring shipment.dispatched: %s", order_id, error)


def recover_orders(*, deps: Dependencies, limit: int = 20) -> int:
    """The sweeper: resume or compensate every order whose saga stopped moving (a crash, an
    unknown outcome, a dependency that was down). Claims are leased, so sweepers never collide."""
    with deps.engine.begin() as connection:
        due = db.claim_due_orders(connection, limit=limit, lease_seconds=deps.hold_seconds)
    for order_id in due:
        try:
            saga.advance(deps, order_id)
        except (DownstreamUnavailable, sa.exc.OperationalError) as error:
            log.warning("order %s: recovery postponed: %r", order_id, error)
    return len(due)
