"""Use cases of the payment service: each is one function running one database transaction."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from payment_service import db
from payment_service.domain import (
    ChargeRequest,
    Gateway,
    IdempotencyKeyReused,
    OrderNotCharged,
    Payment,
    PaymentNotFound,
    RefundRequest,
    check_replay,
    outcome_status,
    refund_target,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentOutcome:
    payment: Payment
    replayed: bool  # True: an earlier request with this key already decided the outcome


def charge_payment(*, engine: sa.Engine, gateway: Gateway, request: ChargeRequest) -> PaymentOutcome:
    """At most one payment per order, whatever the number of retries and their timing."""
    with engine.begin() as connection:
        # A replay must not reach the gateway again: answer from the stored outcome.
        existing = db.find_by_idempotency_key(connection, idempotency_key=request.idempotency_key)
        if existing is not None:
            return PaymentOutcome(payment=check_replay(existing=existing, request=request), replayed=True)
        # Two first attempts racing both get here. The simulated gateway is a pure function;
        # a real one is called with the same idempotency key and answers both alike, so the
        # loser's decision is discarded below and nobody is charged twice.
        decision = gateway.charge(request=request)
        created = db.insert_payment_once(
            connection,
            payment={
                "id": str(uuid.uuid4()),
                "order_id": request.order_id,
                "idempotency_key": request.idempotency_key,
                "amount_cents": request.amount_cents,
                "currency": request.currency,
                "payment_token": request.payment_token,
                "status": outcome_status(decision=decision).value,
                "decline_code": decision.decline_code,
            },
        )
        if created is None:
            # Lost the race: the winner has committed by now (ON CONFLICT waited for it).
            winner = db.find_by_idempotency_key(connection, idempotency_key=request.idempotency_key)
            if winner is None:  # same order under another key cannot happen: the key is derived
                raise IdempotencyKeyReused(order_id=request.order_id)
            return PaymentOutcome(payment=check_replay(existing=winner, request=request), replayed=True)
    _log_status(created)
    return PaymentOutcome(payment=created, replayed=False)


def refund_payment(*, engine: sa.Engine, request: RefundRequest) -> PaymentOutcome:
    """Refunds the order's captured payment, once: the row lock makes concurrent refunds
    of one order queue up, and every one after the first finds it REFUNDED (a replay).
    The simulated gateway has nothing to decide for a refund of a captured payment."""
    with engine.begin() as connection:
        payment = db.lock_payment_of_order(connection, order_id=request.order_id)
        if payment is None:
            raise OrderNotCharged(order_id=request.order_id)
        if refund_target(payment=payment) is None:
            return PaymentOutcome(payment=payment, replayed=True)
        refunded = db.mark_refunded(connection, payment_id=payment.id)
    _log_status(refunded)
    return PaymentOutcome(payment=refunded, replayed=False)


def _log_status(payment: Payment) -> None:
    """One line per decided charge or refund, once committed (replays say nothing)."""
    log.info(
        "order %s: payment %s %s%s", payment.order_id, payment.id, payment.status,
        f" ({payment.decline_code})" if payment.decline_code else "",
        extra={"order_id": payment.order_id},
    )  # fmt: skip


def get_payment(*, engine: sa.Engine, payment_id: str) -> Payment:
    with engine.connect() as connection:
        payment = db.find_payment(connection, payment_id=payment_id)
    if payment is None:
        raise PaymentNotFound(payment_id=payment_id)
    return payment


def list_payments(*, engine: sa.Engine, order_id: str | None, limit: int) -> list[Payment]:
    with engine.connect() as connection:
        return db.list_payments(connection, order_id=order_id, limit=limit)
