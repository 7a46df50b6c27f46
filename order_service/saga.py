"""The order saga, resumable from whatever state was last persisted.

PENDING --reserve--> RESERVED --charge--> CONFIRMED (stock committed)
                                  |--> PAYMENT_PENDING (outcome unknown) --look up--> CONFIRMED / FAILED
Refusals and declines end REJECTED / FAILED (so does a reserve at a price the shopper did
not see: REJECTED, price_changed); compensations (release, restock, refund) are recorded as
unsettled and retried by `settle` until inventory/payment confirm them.

Every downstream write is idempotent by a key derived from the order, so the live
request and the sweeper may both drive the same order: the worst case is a repeated
call with the same answer, and `db.transition` refuses a state change that lost the race.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import sqlalchemy as sa

from messaging.envelope import Envelope, new_event
from messaging.logs import log_context
from messaging.metrics import ORDERS, SAGA_STEP_SECONDS
from order_service import db
from order_service.bootstrap import Dependencies
from order_service.clients import Captured, Declined, DownstreamUnavailable, ReservationRefused
from order_service.domain import (
    FailureReason,
    IllegalTransition,
    Order,
    OrderStatus,
    Step,
    chargeable,
    price_changes,
    retry_delay_seconds,
    stock_action,
)

log = logging.getLogger(__name__)
SOURCE = "order_service"
# The downstream call of each step, timed whatever its outcome (a timeout shows as ~3 s).
RESERVE_SECONDS, CHARGE_SECONDS, COMMIT_SECONDS = (
    SAGA_STEP_SECONDS.labels(step=step) for step in ("reserve", "charge", "commit")
)


def advance(*, deps: Dependencies, order_id: str, order: Order | None = None) -> Order:
    """Drive the order forward until it is final or waiting on something; then settle.
    `order`: the order as the caller just wrote it, which saves reading it again."""
    with log_context(order_id=order_id):  # its lines, and those of the calls it makes
        return _advance(deps=deps, order_id=order_id, order=order)


def _advance(*, deps: Dependencies, order_id: str, order: Order | None) -> Order:
    order = order if order is not None else load(deps=deps, order_id=order_id)
    for _ in range(len(STEPS) + 1):
        step = STEPS.get(order.status)
        if step is None:
            break
        try:
            moved = step(deps, order)
        except IllegalTransition:
            order = load(deps=deps, order_id=order_id)  # someone else moved it on: their result stands
            log.info("order %s: already moved to %s", order_id, order.status)
            break
        order_was, order = order.status, moved
        if moved.status == order_was or moved.status in WAITING_STATUSES:
            break  # waiting (unknown outcome, dependency down): the sweeper comes back
        if deps.step_pause_seconds:
            time.sleep(deps.step_pause_seconds)
    return settle(deps=deps, order=order)


def load(*, deps: Dependencies, order_id: str) -> Order:
    with deps.engine.connect() as connection:
        return db.get_order(connection, order_id=order_id)


def _reserve(deps: Dependencies, order: Order) -> Order:
    lines = [{"sku": item["sku"], "quantity": item["quantity"]} for item in order.items]
    try:
        with RESERVE_SECONDS.time():
            result = deps.inventory.reserve(order_id=order.id, items=lines)
    except DownstreamUnavailable as error:
        # If the reserve may have happened, stock_settled=False makes `settle` release it.
        return _fail(deps, order, FailureReason.INVENTORY_UNAVAILABLE, "reserve", error, stock_settled=False)
    if isinstance(result, ReservationRefused):
        if result.code == "reservation-released":  # compensated already, by an earlier attempt
            error = DownstreamUnavailable("inventory", maybe_applied=False, detail=result.code)
            return _fail(
                deps, order, FailureReason.INVENTORY_UNAVAILABLE, "reserve", error, stock_settled=True
            )
        reason = FailureReason.UNKNOWN_SKU if result.code == "unknown-sku" else FailureReason.OUT_OF_STOCK
        return finish(
            deps=deps, order=order, target=OrderStatus.REJECTED,
            cause=f"reserve refused: {result.code} ({result.sku})", event="order.rejected",
            failure_reason=reason, failed_step="reserve", stock_settled=True,
        )  # fmt: skip
    if changes := price_changes(order.items, result.items):  # the items keep the prices seen
        changed = ", ".join(f"{c.sku} {c.seen_cents} -> {c.price_cents}" for c in changes)
        return finish(
            deps=deps, order=order, target=OrderStatus.REJECTED,
            cause=f"reserve: price changed (seen -> now): {changed}", event="order.rejected",
            failure_reason=FailureReason.PRICE_CHANGED, failed_step="reserve", stock_settled=False,
        )  # fmt: skip
    if not chargeable(result.total_cents):  # before it is stored: the column is an integer too
        return finish(
            deps=deps, order=order, target=OrderStatus.FAILED,
            cause=f"reserve: a total of {result.total_cents} cents cannot be charged", event="order.failed",
            failure_reason=FailureReason.TOTAL_NOT_CHARGEABLE, failed_step="reserve", stock_settled=False,
        )  # fmt: skip
    return _move(
        deps,
        order,
        OrderStatus.RESERVED,
        "reserve: reserved",
        items=result.items,
        total_cents=result.total_cents,
    )


def _charge(deps: Dependencies, order: Order) -> Order:
    try:
        with CHARGE_SECONDS.time():
            outcome = deps.payment.charge(
                order_id=order.id, amount_cents=order.total_cents, currency=order.currency,
                payment_token=order.payment_token,
            )  # fmt: skip
    except DownstreamUnavailable as error:
        if error.maybe_applied:  # never guess: look it up by its key
            return _move(
                deps, order, OrderStatus.PAYMENT_PENDING, f"charge: outcome unknown ({error})",
                hold_seconds=retry_delay_seconds(0, jitter=random.random()),
            )  # fmt: skip
        return _fail(deps, order, FailureReason.PAYMENT_UNAVAILABLE, "charge", error, stock_settled=False)
    return _apply_charge(deps, order, outcome)


def _resolve_payment(deps: Dependencies, order: Order) -> Order:
    try:
        outcome = deps.payment.find_charge(order_id=order.id)
        if outcome is None:  # the charge never arrived: the same key makes a second try safe
            outcome = deps.payment.charge(
                order_id=order.id, amount_cents=order.total_cents, currency=order.currency,
                payment_token=order.payment_token,
            )  # fmt: skip
    except DownstreamUnavailable as error:
        return _wait(deps, order, f"payment lookup: {error}")
    return _apply_charge(deps, order, outcome)


def _apply_charge(deps: Dependencies, order: Order, outcome: Captured | Declined) -> Order:
    if isinstance(outcome, Declined):
        return finish(
            deps=deps, order=order, target=OrderStatus.FAILED,
            cause=f"charge declined: {outcome.decline_code}", event="order.failed",
            failure_reason=FailureReason.PAYMENT_DECLINED, failed_step="charge", stock_settled=False,
        )  # fmt: skip
    try:
        with COMMIT_SECONDS.time():
            refused = deps.inventory.commit(order_id=order.id)
    except DownstreamUnavailable as error:
        # Paid, stock still held: stay put; the next attempt's charge replays instantly.
        return _wait(deps, order, f"commit after capture {outcome.payment_id}: {error}")
    if refused:  # the hold expired before the money came: give it back
        return finish(
            deps=deps, order=order, target=OrderStatus.FAILED, cause=f"commit refused: {refused.code}",
            event="order.failed",
            failure_reason=FailureReason.RESERVATION_EXPIRED, failed_step="commit",
            stock_settled=True, payment_settled=False,
        )  # fmt: skip
    return finish(
        deps=deps, order=order, target=OrderStatus.CONFIRMED,
        cause=f"charge captured: {outcome.payment_id}; stock committed", event="order.confirmed",
        stock_settled=True,
    )  # fmt: skip


# A request that reaches one of these answers 202 at once: it already waited a full read
# timeout, and the outcome will be looked up (with backoff) by the sweeper, not by the client.
WAITING_STATUSES = frozenset({OrderStatus.PAYMENT_PENDING})

STEPS = {
    OrderStatus.PENDING: _reserve,
    OrderStatus.RESERVED: _charge,
    OrderStatus.PAYMENT_PENDING: _resolve_payment,
}


def settle(*, deps: Dependencies, order: Order) -> Order:
    """Run the compensations a final order still owes: release/restock the stock, refund."""
    action = stock_action(order.status)
    owes_stock = bool(action) and not order.stock_settled
    owes_refund = order.status in (OrderStatus.FAILED, OrderStatus.CANCELLED) and not order.payment_settled
    if not (owes_stock or owes_refund):
        return order  # the common case: nothing owed, nothing to read again
    try:
        if owes_stock:
            getattr(deps.inventory, action)(order_id=order.id)
            _record(deps, order.id, stock=True)
        if owes_refund:
            deps.payment.refund(order_id=order.id)
            _record(deps, order.id, payment=True)
    except DownstreamUnavailable as error:
        return _wait(deps, order, f"settle {order.status}: {error}")
    return load(deps=deps, order_id=order.id)


def _record(deps: Dependencies, order_id: str, *, stock: bool = False, payment: bool = False) -> None:
    with deps.engine.begin() as connection:
        db.mark_settled(connection, order_id=order_id, stock=stock, payment=payment)


def _wait(deps: Dependencies, order: Order, why: str) -> Order:
    """Leave the order where it is and come back later, with backoff and jitter."""
    delay = retry_delay_seconds(order.attempts, jitter=random.random())
    log.warning("order %s (%s): retry in %.1fs: %s", order.id, order.status, delay, why)
    with deps.engine.begin() as connection:
        db.postpone(connection, order_id=order.id, seconds=delay)
    return load(deps=deps, order_id=order.id)


def _move(
    deps: Dependencies,
    order: Order,
    target: OrderStatus,
    cause: str,
    *,
    hold_seconds: float | None = None,
    items: list[dict[str, Any]] | None = None,
    total_cents: int | None = None,
) -> Order:
    """A step of the saga that announces nothing but the step itself (`order.step`)."""
    with deps.engine.begin() as connection:
        moved = db.transition(
            connection, order_id=order.id, target=target, cause=cause,
            hold_seconds=deps.hold_seconds if hold_seconds is None else hold_seconds,
            items=items, total_cents=total_cents,
        )  # fmt: skip
        announce(connection, moved)
    _log_moved(order, moved, cause)
    return moved


def _log_moved(order: Order, moved: Order, cause: str) -> None:
    """A line per step of the order's journey (reserved, confirmed, failed ...)."""
    log.info(
        "order %s: %s -> %s: %s", order.id, order.status, moved.status, cause, extra={"order_id": order.id}
    )


def _fail(
    deps: Dependencies,
    order: Order,
    reason: FailureReason,
    step: str,
    error: DownstreamUnavailable,
    *,
    stock_settled: bool,
) -> Order:
    return finish(
        deps=deps, order=order, target=OrderStatus.FAILED, cause=f"{step}: {error}", event="order.failed",
        failure_reason=reason, failed_step=step, stock_settled=stock_settled,
    )  # fmt: skip


def finish(
    *,
    deps: Dependencies,
    order: Order,
    target: OrderStatus,
    cause: str,
    event: str,
    failure_reason: str | None = None,
    failed_step: str | None = None,
    stock_settled: bool | None = None,
    payment_settled: bool | None = None,
) -> Order:
    """The state change and the event announcing it: one transaction (outbox)."""
    with deps.engine.begin() as connection:
        moved = db.transition(
            connection, order_id=order.id, target=target, cause=cause, hold_seconds=deps.hold_seconds,
            failure_reason=failure_reason, failed_step=failed_step,
            stock_settled=stock_settled, payment_settled=payment_settled,
        )  # fmt: skip
        envelope = order_event(event_type=event, order=moved)
        announce(connection, moved, *([] if deps.event_receivers else [envelope]))
    _log_moved(order, moved, f"{cause}; {event} {envelope.id}")
    ORDERS.labels(status=moved.status).inc()  # committed: a transition that lost a race raised
    if deps.event_receivers:
        deliver_inline(deps=deps, envelope=envelope)
    return moved


def deliver_inline(*, deps: Dependencies, envelope: Envelope) -> None:
    """ORDER_FLOW=sync, the benchmark's all-synchronous baseline: the request waits while the
    warehouse and the notification service handle the event. One that cannot be reached
    gets it the hybrid way instead (outbox, then RabbitMQ; inboxes drop the copy the other
    already has), after the request has paid for the timeouts. A crash between the commit
    and these calls loses the event: the dual write the outbox exists to avoid, and one
    reason this flow is only a baseline."""
    for receiver in deps.event_receivers:
        try:
            receiver.deliver(envelope)
        except DownstreamUnavailable as error:
            log.warning("event %s: inline delivery failed (%s); queued in the outbox", envelope.id, error)
            with deps.engine.begin() as connection:
                db.outbox.add(connection, envelope)
            return


def announce(
    connection: sa.Connection, order: Order, *envelopes: Envelope, traceparent: str | None = None
) -> None:
    """Into the outbox, in the transaction that moved the order: the step its transition
    recorded (`order.step`, for whoever follows the order live) and the events given.
    `traceparent`: the step's trace (None: the current span's)."""
    db.outbox.add(connection, step_event(db.step_of(order), traceparent=traceparent), *envelopes)


def step_event(step: Step, *, traceparent: str | None = None) -> Envelope:
    """`traceparent`: the trace it continues (None: the outbox gives it the current span's)."""
    data = {"order_id": step.order_id, **step.message()}
    return new_event(
        type="order.step", source=SOURCE, subject=step.order_id, correlationid=step.order_id, data=data,
        traceparent=traceparent,
    )  # fmt: skip


def order_event(*, event_type: str, order: Order) -> Envelope:
    data: dict[str, Any] = {"order_id": order.id, "customer_id": order.customer_id, "email": order.email}
    if event_type == "order.confirmed":
        data.update(items=list(order.items), total_cents=order.total_cents, currency=order.currency)
    elif event_type == "order.cancelled":
        data["reason"] = "customer_request"
    else:
        data["reason"] = order.failure_reason
    return new_event(type=event_type, source=SOURCE, subject=order.id, correlationid=order.id, data=data)
