"""Order use cases. The saga: reserve stock -> charge -> commit (or compensate).

Each step's outcome is persisted before the next call, so a crash leaves an order
whose state says what is left to do. Events are written to the outbox in the same
transaction as the state they announce.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from messaging.consumer import PoisonEvent
from messaging.envelope import Envelope, new_event
from messaging.web import Problem
from order_service import db
from order_service.clients import (
    Declined,
    DownstreamUnavailable,
    InventoryClient,
    PaymentClient,
    ReservationRefused,
)
from order_service.domain import (
    FINAL_STATUSES,
    FailureReason,
    IdempotencyKeyReused,
    IllegalTransition,
    OrderNotFound,
    OrderStatus,
    PlaceOrder,
    parse_place_order,
    request_fingerprint,
)

log = logging.getLogger(__name__)
SOURCE = "order_service"


@dataclass(frozen=True)
class Dependencies:
    engine: sa.Engine
    inventory: InventoryClient
    payment: PaymentClient
    currency: str


@dataclass(frozen=True)
class Reply:
    """What POST /orders answers: stored with the idempotency key and replayed as is."""

    status: int
    body: dict[str, Any]
    order_id: str


def place_order(*, deps: Dependencies, idempotency_key: str, body: dict[str, Any]) -> Reply:
    command = parse_place_order(body)
    fingerprint = request_fingerprint(body)
    order_id = str(uuid.uuid4())
    with deps.engine.begin() as connection:
        if not db.claim_idempotency_key(connection, key=idempotency_key, fingerprint=fingerprint):
            return _replay(connection, key=idempotency_key, fingerprint=fingerprint)
        db.insert_order(connection, values=_new_order(order_id, command, deps.currency), cause="POST /orders")
        db.record_response(connection, key=idempotency_key, order_id=order_id, status=None, body=None)
    reply = _run_saga(deps=deps, order_id=order_id, command=command)
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
    # The first request is still running (or died before answering): say where it is, honestly.
    order = db.get_order(connection, order_id=stored.order_id)
    return Reply(status=_status_code(order.status), body=db.order_json(order), order_id=order.id)


def _status_code(status: str) -> int:
    return 201 if status in FINAL_STATUSES or status == OrderStatus.CONFIRMED else 202


def _run_saga(*, deps: Dependencies, order_id: str, command: PlaceOrder) -> Reply:
    lines = [{"sku": line.sku, "quantity": line.quantity} for line in command.items]
    try:
        reservation = deps.inventory.reserve(order_id=order_id, items=lines)
    except DownstreamUnavailable as error:
        return _abandon(
            deps, order_id, step="reserve", reason=FailureReason.INVENTORY_UNAVAILABLE, error=error
        )
    if isinstance(reservation, ReservationRefused):
        if reservation.code not in ("out-of-stock", "unknown-sku"):
            error = DownstreamUnavailable("inventory", maybe_applied=False, detail=reservation.code)
            return _abandon(
                deps, order_id, step="reserve", reason=FailureReason.INVENTORY_UNAVAILABLE, error=error
            )
        reason = (
            FailureReason.UNKNOWN_SKU if reservation.code == "unknown-sku" else FailureReason.OUT_OF_STOCK
        )
        order = _finish(
            deps, order_id, target=OrderStatus.REJECTED, cause=f"reserve refused: {reservation.code}",
            event="order.rejected", failure_reason=reason, failed_step="reserve", stock_settled=True,
        )  # fmt: skip
        return Reply(status=201, body=db.order_json(order), order_id=order_id)

    with deps.engine.begin() as connection:
        order = db.transition(
            connection, order_id=order_id, target=OrderStatus.RESERVED, cause="reserve: 201",
            items=reservation.items, total_cents=reservation.total_cents,
        )  # fmt: skip
    try:
        outcome = deps.payment.charge(
            order_id=order_id, amount_cents=order.total_cents, currency=order.currency,
            payment_token=command.payment_token,
        )  # fmt: skip
    except DownstreamUnavailable as error:
        return _abandon(deps, order_id, step="charge", reason=FailureReason.PAYMENT_UNAVAILABLE, error=error)

    if isinstance(outcome, Declined):
        settled = _settle_stock(deps.inventory.release, order_id)
        order = _finish(
            deps, order_id, target=OrderStatus.FAILED, cause=f"charge declined: {outcome.decline_code}",
            event="order.failed", failure_reason=FailureReason.PAYMENT_DECLINED, failed_step="charge",
            stock_settled=settled,
        )  # fmt: skip
    else:
        settled = _settle_stock(deps.inventory.commit, order_id)
        order = _finish(
            deps, order_id, target=OrderStatus.CONFIRMED, cause=f"charge captured: {outcome.payment_id}",
            event="order.confirmed", stock_settled=settled,
        )  # fmt: skip
    return Reply(status=201, body=db.order_json(order), order_id=order_id)


def _settle_stock(call, order_id: str) -> bool:
    """Commit or release the reservation; False leaves it for the sweeper to retry."""
    try:
        call(order_id=order_id)
        return True
    except DownstreamUnavailable as error:
        log.warning("order %s: stock not settled yet: %s", order_id, error)
        return False


def _abandon(
    deps: Dependencies, order_id: str, *, step: str, reason: str, error: DownstreamUnavailable
) -> Reply:
    """A dependency failed before any money moved (or we cannot know yet)."""
    if step == "charge" and error.maybe_applied:
        # The charge may have happened: never guess. The order stays RESERVED (202) until
        # a charge retry with the same key tells the truth.
        return _current_reply(deps, order_id)
    # No money moved. Release whatever may have been reserved (idempotent; if inventory
    # cannot be reached either, stock_settled stays False for the sweeper).
    reservation_may_exist = step == "charge" or error.maybe_applied
    settled = _settle_stock(deps.inventory.release, order_id) if reservation_may_exist else True
    order = _finish(
        deps, order_id, target=OrderStatus.FAILED, cause=f"{step}: {error}", event="order.failed",
        failure_reason=reason, failed_step=step, stock_settled=settled,
    )  # fmt: skip
    problem = Problem(
        status=503,
        code="dependency-unavailable",
        title=f"{error.service} is unavailable; the order failed before any payment was taken",
        dependency=error.service,
        order=db.order_json(order),
    )
    return Reply(status=503, body=problem.to_dict(), order_id=order_id)


def _current_reply(deps: Dependencies, order_id: str) -> Reply:
    with deps.engine.connect() as connection:
        order = db.get_order(connection, order_id=order_id)
    return Reply(status=202, body=db.order_json(order), order_id=order_id)


def _finish(
    deps: Dependencies, order_id: str, *, target: str, cause: str, event: str, **changes: Any
) -> sa.Row:
    with deps.engine.begin() as connection:
        order = db.transition(connection, order_id=order_id, target=target, cause=cause, **changes)
        db.outbox.add(connection, order_event(event, order))
    return order


def order_event(event_type: str, order: sa.Row) -> Envelope:
    data: dict[str, Any] = {"order_id": order.id, "customer_id": order.customer_id, "email": order.email}
    if event_type == "order.confirmed":
        data.update(items=order.items, total_cents=order.total_cents, currency=order.currency)
    else:
        data["reason"] = order.failure_reason
    return new_event(type=event_type, source=SOURCE, subject=order.id, correlationid=order.id, data=data)


def get_order(*, engine: sa.Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        return db.order_json(db.get_order(connection, order_id=order_id))


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
    """shipment.dispatched -> order SHIPPED, once (inbox), whatever the redeliveries."""
    if envelope.type != "shipment.dispatched":
        return
    order_id = envelope.data["order_id"]
    with engine.begin() as connection:
        if not db.inbox.first_delivery(connection, message_id=envelope.id, event_type=envelope.type):
            return
        try:
            current = db.get_order(connection, order_id=order_id, for_update=True)
        except OrderNotFound as error:
            raise PoisonEvent(f"shipment for unknown order {order_id}") from error
        if current.status == OrderStatus.SHIPPED:
            return
        try:
            db.transition(
                connection, order_id=order_id, target=OrderStatus.SHIPPED, cause=f"event {envelope.id}"
            )
        except IllegalTransition as error:
            log.error("order %s: ignoring shipment.dispatched: %s", order_id, error)
