"""Order use cases: place, cancel, read, react to shipments, recover stalled orders. Each
returns domain values (an `Order`, or a small outcome below); api.py renders them as HTTP."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from messaging.envelope import Envelope, PoisonEvent
from messaging.logs import event_ids, log_context
from messaging.metrics import ORDERS
from messaging.tracing import event_traceparent
from order_service import catalog, db, saga
from order_service.bootstrap import Dependencies
from order_service.clients import DownstreamUnavailable
from order_service.domain import (
    IN_FLIGHT_STATUSES,
    CatalogItem,
    EmailSent,
    IdempotencyKeyReused,
    IllegalTransition,
    JournalEntry,
    Order,
    OrderAlreadyShipped,
    OrderNotCancellable,
    OrderNotFound,
    OrderStatus,
    ProductNotFound,
    ProductRemoved,
    Step,
    Transition,
    email_sent_from_event,
    parse_place_order,
    refuse_removed,
    request_fingerprint,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placed:
    """POST /orders went through the saga (`replayed` False), or repeats an earlier request
    whose answer was not stored (still running, died, or answered 202): the order as it is now."""

    order: Order
    replayed: bool


@dataclass(frozen=True)
class Answer:
    """What POST /orders answered, as api.py rendered it. A final answer is stored with the
    idempotency key, and a replay of the key gets it back verbatim, however the order moved on."""

    order_id: str
    status: int
    body: dict[str, Any]


def place_order(*, deps: Dependencies, idempotency_key: str, body: dict[str, Any]) -> Placed | Answer:
    command = parse_place_order(body)
    fingerprint = request_fingerprint(body)
    order_id = str(uuid.uuid4())
    with deps.engine.connect() as connection:
        order = db.insert_order(
            connection,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            order_id=order_id,
            customer_id=command.customer_id,
            email=command.email,
            status=OrderStatus.PENDING,
            items=[
                {"sku": line.sku, "quantity": line.quantity, "unit_price_cents": line.unit_price_cents}
                for line in command.items
            ],
            currency=deps.currency,
            payment_token=command.payment_token,
            cause="POST /orders",
            hold_seconds=deps.hold_seconds,
        )
        if order is None:  # the key is taken: drop our order, answer as the first request did
            connection.rollback()
            return _replay(connection, key=idempotency_key, fingerprint=fingerprint)
        # The copy's word on every SKU of the order: one query by primary key, on the connection
        # and in the transaction of the insert (after it, so that a replay gets its stored answer
        # whatever the copy now says). A removed product: roll the order and its key back.
        skus = [line.sku for line in command.items]
        try:
            refuse_removed(command.items, catalog.find_items(connection, skus=skus))
        except ProductRemoved as refused:
            connection.rollback()
            log.info("order refused before the inventory: %s", refused)
            raise
        saga.announce(connection, order)
        connection.commit()
    log.info("order %s placed: %d line(s)", order_id, len(order.items), extra={"order_id": order_id})
    return Placed(order=saga.advance(deps=deps, order_id=order_id, order=order), replayed=False)


def _replay(connection: sa.Connection, *, key: str, fingerprint: str) -> Placed | Answer:
    stored = db.get_idempotency_key(connection, key=key)
    if stored is None or stored.fingerprint != fingerprint:  # None: not reached, the key was just seen
        raise IdempotencyKeyReused(key)
    if stored.response_status is not None:
        return Answer(order_id=stored.order_id, status=stored.response_status, body=stored.response_body)
    return Placed(order=db.get_order(connection, order_id=stored.order_id), replayed=True)


def remember_answer(*, engine: sa.Engine, idempotency_key: str, placed: Placed, answer: Answer) -> None:
    """Store the answer to a request that placed an order, for its replays. An order still in
    flight (the answer is 202) has no answer worth replaying: a replay says where it is then."""
    if placed.replayed or placed.order.status in IN_FLIGHT_STATUSES:
        return
    with engine.begin() as connection:
        db.record_response(
            connection, key=idempotency_key, order_id=answer.order_id, status=answer.status, body=answer.body
        )


def cancel_order(*, deps: Dependencies, order_id: str) -> Order:
    """Cancel before dispatch: the warehouse decides atomically whether the parcel left."""
    with log_context(order_id=order_id):
        return _cancel(deps=deps, order_id=order_id)


def _cancel(*, deps: Dependencies, order_id: str) -> Order:
    order = saga.load(deps=deps, order_id=order_id)
    if order.status == OrderStatus.CANCELLED:
        return order  # idempotent
    if order.status == OrderStatus.SHIPPED:
        raise OrderAlreadyShipped(order_id)
    if order.status != OrderStatus.CONFIRMED:
        raise OrderNotCancellable(order.status)
    if deps.warehouse.cancel_shipment(order_id=order_id):  # DownstreamUnavailable -> 503
        raise OrderAlreadyShipped(order_id)  # dispatched; shipment.dispatched is on its way
    try:
        order = saga.finish(
            deps=deps, order=order, target=OrderStatus.CANCELLED, cause=f"POST /orders/{order_id}/cancel",
            event="order.cancelled", stock_settled=False, payment_settled=False,
        )  # fmt: skip
    except IllegalTransition:
        order = saga.load(deps=deps, order_id=order_id)
        if order.status != OrderStatus.CANCELLED:
            raise
    return saga.settle(deps=deps, order=order)


def list_catalog(*, engine: sa.Engine) -> list[CatalogItem]:
    """The products on sale, as the copy has them (never the inventory's API)."""
    with engine.connect() as connection:
        return catalog.list_items(connection)


def get_catalog_item(*, engine: sa.Engine, sku: str) -> CatalogItem:
    with engine.connect() as connection:
        item = catalog.find_items(connection, skus=[sku]).get(sku)
    if item is None or item.removed:  # removed: no longer sold, as if it never was
        raise ProductNotFound(sku)
    return item


def get_order(*, engine: sa.Engine, order_id: str) -> Order:
    with engine.connect() as connection:
        return db.get_order(connection, order_id=order_id)


@dataclass(frozen=True)
class Timeline:
    order: Order
    transitions: tuple[Transition, ...]  # oldest first


def order_timeline(*, engine: sa.Engine, order_id: str) -> Timeline:
    with engine.connect() as connection:
        order = db.get_order(connection, order_id=order_id)  # OrderNotFound, not an empty timeline
        return Timeline(order=order, transitions=tuple(db.transitions_of(connection, order_id=order_id)))


def order_journal(*, engine: sa.Engine, order_id: str) -> list[JournalEntry]:
    """Every event about the order that the journal's index holds so far, oldest first."""
    with engine.connect() as connection:
        db.get_order(connection, order_id=order_id)  # OrderNotFound, not an empty journal
        return db.journal_of(connection, order_id=order_id)


@dataclass(frozen=True)
class OrderPage:
    orders: tuple[Order, ...]  # newest first
    next_cursor: str | None  # the next page's `cursor`; None on the last page


def list_orders(
    *, engine: sa.Engine, customer_id: str | None, status: str | None, limit: int, cursor: int | None
) -> OrderPage:
    with engine.connect() as connection:
        orders = db.list_orders(
            connection, customer_id=customer_id, status=status, limit=limit + 1, before_seq=cursor
        )
    page = orders[:limit]
    next_cursor = str(page[-1].seq) if len(orders) > limit else None
    return OrderPage(orders=tuple(page), next_cursor=next_cursor)


def record_shipments_dispatched(*, engine: sa.Engine, envelopes: list[Envelope]) -> None:
    """shipment.dispatched -> order SHIPPED, once (inbox), whatever the redeliveries. The
    consumer step's batch handler: one transaction for the batch; an event for an unknown
    order raises PoisonEvent, which rolls the batch back for the step to retry it one by one."""
    with engine.begin() as connection:
        shipped = [envelope for envelope in envelopes if _ship(connection, envelope)]
    for envelope in shipped:  # once committed
        log.info("order %s: SHIPPED", envelope.data["order_id"], extra=event_ids(envelope))
    if shipped:  # counted once committed: a batch rolled back is handled again
        ORDERS.labels(status=OrderStatus.SHIPPED).inc(len(shipped))


def _ship(connection: sa.Connection, envelope: Envelope) -> bool:
    """Whether this event shipped the order."""
    if envelope.type != "shipment.dispatched":
        return False
    order_id = envelope.data["order_id"]
    if not db.shipments_inbox.first_delivery(connection, message_id=envelope.id, event_type=envelope.type):
        return False
    try:
        shipped = db.transition(
            connection, order_id=order_id, target=OrderStatus.SHIPPED, cause=f"event {envelope.id}",
            hold_seconds=0,
        )  # fmt: skip
    except OrderNotFound as error:
        raise PoisonEvent(f"shipment for unknown order {order_id}") from error
    except IllegalTransition as error:
        if error.current != OrderStatus.SHIPPED:  # shipped already: another event said it first
            log.error(
                "order %s: ignoring shipment.dispatched: %s", order_id, error, extra=event_ids(envelope)
            )
        return False
    saga.announce(connection, shipped, traceparent=event_traceparent(envelope))  # its own, in a batch too
    return True


def record_emails_sent(*, engine: sa.Engine, envelopes: list[Envelope]) -> None:
    """notification.sent -> the order's next step (`email.<kind>`), announced as an `order.step`
    (continuing the event's trace), once per event (inbox). The consumer step's batch handler:
    one transaction for the batch, taking its orders' rows in the order of their ids (as any
    other batch of emails does, so two never deadlock), each order's emails numbered as they
    came. Every event is read first: one it cannot read, like one for an unknown order, raises
    PoisonEvent (the step retries the batch one by one); other types are ignored."""
    emails = sorted(
        ((envelope, _email_sent(envelope)) for envelope in envelopes if envelope.type == "notification.sent"),
        key=lambda each: each[1].order_id,
    )
    if not emails:
        return
    recorded: list[tuple[Envelope, Step]] = []
    with engine.begin() as connection:
        new = db.notifications_inbox.first_deliveries(connection, [(e.id, e.type) for e, _ in emails])
        for envelope, email in emails:
            if envelope.id not in new:
                continue  # seen before, or earlier in this batch
            new.discard(envelope.id)
            step = db.record_email_step(connection, order_id=email.order_id, kind=email.kind, at=email.at)
            if step is None:
                raise PoisonEvent(f"email sent for unknown order {email.order_id}")
            recorded.append((envelope, step))
        if recorded:
            steps = [saga.step_event(step, traceparent=event_traceparent(e)) for e, step in recorded]
            db.outbox.add(connection, *steps)
    for envelope, step in recorded:  # once committed
        log.info("order %s: step %d %s", step.order_id, step.seq, step.kind, extra=event_ids(envelope))


def _email_sent(envelope: Envelope) -> EmailSent:
    try:
        return email_sent_from_event(envelope.data)
    except ValueError as error:
        raise PoisonEvent(str(error)) from error


def recover_orders(*, deps: Dependencies, limit: int = 20) -> int:
    """The sweeper: resume or compensate every order whose saga stopped moving (a crash, an
    unknown outcome, a dependency that was down). Claims are leased, so sweepers never collide."""
    with deps.engine.begin() as connection:
        due = db.claim_due_orders(connection, limit=limit, lease_seconds=deps.hold_seconds)
    for order_id in due:
        try:
            saga.advance(deps=deps, order_id=order_id)
        except (DownstreamUnavailable, sa.exc.OperationalError) as error:
            log.warning("order %s: recovery postponed: %r", order_id, error)
    return len(due)
