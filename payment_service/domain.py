"""Payment rules, values and the simulated gateway. Standard library only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from messaging.validation import FieldError, InvalidInput, integer_error, require_idempotency_key

CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
MAX_ORDER_ID_LENGTH = 100
MAX_TOKEN_LENGTH = 200
MAX_AMOUNT_CENTS = 2_147_483_647  # PostgreSQL's integer column


class PaymentStatus(StrEnum):
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"


# --- errors: domain words, mapped to problem+json by api.py -------------------------------


class PaymentError(Exception):
    """Base of every rule the payment service enforces."""


class IdempotencyKeyReused(PaymentError):
    def __init__(self, *, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} was already charged with other parameters")


class PaymentNotFound(PaymentError):
    def __init__(self, *, payment_id: str) -> None:
        self.payment_id = payment_id
        super().__init__(f"no payment {payment_id}")


class OrderNotCharged(PaymentError):
    """A refund for an order that has no payment at all."""

    def __init__(self, *, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"no payment for order {order_id}")


class PaymentNotRefundable(PaymentError):
    def __init__(self, *, order_id: str, status: PaymentStatus) -> None:
        self.order_id, self.status = order_id, status
        super().__init__(f"the payment of order {order_id} is {status}: nothing was taken to refund")


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeRequest:
    order_id: str
    amount_cents: int
    currency: str
    payment_token: str

    @property
    def idempotency_key(self) -> str:
        return charge_idempotency_key(order_id=self.order_id)


@dataclass(frozen=True)
class RefundRequest:
    order_id: str

    @property
    def idempotency_key(self) -> str:
        return refund_idempotency_key(order_id=self.order_id)


@dataclass(frozen=True)
class GatewayDecision:
    approved: bool
    decline_code: str | None = None


@dataclass(frozen=True)
class Payment:
    id: str
    order_id: str
    idempotency_key: str
    amount_cents: int
    currency: str
    payment_token: str  # kept to recognise a replay; never shown to clients
    status: PaymentStatus
    decline_code: str | None
    created_at: datetime
    updated_at: datetime
    refunded_at: datetime | None = None


class Gateway(Protocol):
    def charge(self, *, request: ChargeRequest) -> GatewayDecision: ...


# Approved like tok_visa, but the HTTP answer comes late (after the payment is committed),
# so that callers meet a charge whose outcome they do not know: see slow_answer_seconds.
SLOW_ANSWER_TOKENS = frozenset({"tok_timeout"})


class SimulatedGateway:
    """Stripe-like test tokens, decided locally: no network, the same answer every time."""

    APPROVING = frozenset({"tok_visa", "tok_mastercard", *SLOW_ANSWER_TOKENS})
    DECLINING = {
        "tok_chargeDeclined": "generic_decline",
        "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    }

    def charge(self, *, request: ChargeRequest) -> GatewayDecision:
        if request.payment_token in self.APPROVING:
            return GatewayDecision(approved=True)
        return GatewayDecision(
            approved=False, decline_code=self.DECLINING.get(request.payment_token, "invalid_token")
        )


# --- rules ----------------------------------------------------------------------------------


def charge_idempotency_key(*, order_id: str) -> str:
    return f"charge:{order_id}"


def refund_idempotency_key(*, order_id: str) -> str:
    return f"refund:{order_id}"


def check_idempotency_key(*, header: str | None, order_id: str) -> None:
    require_idempotency_key(header=header, expected=charge_idempotency_key(order_id=order_id))


def check_refund_idempotency_key(*, header: str | None, order_id: str) -> None:
    """The key names the order: a key for another order than the body's is refused."""
    require_idempotency_key(header=header, expected=refund_idempotency_key(order_id=order_id))


def outcome_status(*, decision: GatewayDecision) -> PaymentStatus:
    return PaymentStatus.CAPTURED if decision.approved else PaymentStatus.DECLINED


def refund_target(*, payment: Payment) -> PaymentStatus | None:
    """The status a refund moves to, or None when it already happened (idempotent)."""
    if payment.status is PaymentStatus.CAPTURED:
        return PaymentStatus.REFUNDED
    if payment.status is PaymentStatus.REFUNDED:
        return None
    raise PaymentNotRefundable(order_id=payment.order_id, status=payment.status)


def slow_answer_seconds(*, payment: Payment, replayed: bool, delay_seconds: float) -> float:
    """How long to hold back the answer to a charge: only the first answer for a slow
    token is late. A replay answers at once, which is how a caller that timed out learns
    the outcome."""
    if replayed or payment.payment_token not in SLOW_ANSWER_TOKENS:
        return 0.0
    return delay_seconds


def check_replay(*, existing: Payment, request: ChargeRequest) -> Payment:
    """The same key again: identical parameters are a retry, anything else a client bug."""
    same = (existing.order_id, existing.amount_cents, existing.currency, existing.payment_token) == (
        request.order_id,
        request.amount_cents,
        request.currency,
        request.payment_token,
    )
    if not same:
        raise IdempotencyKeyReused(order_id=request.order_id)
    return existing


# --- input parsing --------------------------------------------------------------------------


def _bounded_string(value: Any, *, maximum: int) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= maximum and not value.isspace()


def parse_refund_request(*, body: Mapping[str, Any]) -> RefundRequest:
    return RefundRequest(order_id=validate_order_id(order_id=body.get("order_id")))


def validate_order_id(*, order_id: Any) -> str:
    """An order id from a body (JSON of any shape) or a query."""
    if not _bounded_string(order_id, maximum=MAX_ORDER_ID_LENGTH):
        raise InvalidInput(
            [FieldError(field="order_id", message=f"must be a string of 1 to {MAX_ORDER_ID_LENGTH}")]
        )
    return order_id


def parse_charge_request(*, body: Mapping[str, Any]) -> ChargeRequest:
    errors: list[FieldError] = []
    order_id: Any = body.get("order_id")  # JSON of any shape until checked below
    amount_cents: Any = body.get("amount_cents")
    currency: Any = body.get("currency")
    payment_token: Any = body.get("payment_token")
    if not _bounded_string(order_id, maximum=MAX_ORDER_ID_LENGTH):
        errors.append(FieldError(field="order_id", message=f"must be a string of 1 to {MAX_ORDER_ID_LENGTH}"))
    if message := integer_error(amount_cents, minimum=1, maximum=MAX_AMOUNT_CENTS):
        errors.append(FieldError(field="amount_cents", message=message))
    if not isinstance(currency, str) or not CURRENCY_PATTERN.fullmatch(currency):
        errors.append(FieldError(field="currency", message="must be 3 upper-case letters (ISO 4217)"))
    if not _bounded_string(payment_token, maximum=MAX_TOKEN_LENGTH):
        errors.append(
            FieldError(field="payment_token", message=f"must be a string of 1 to {MAX_TOKEN_LENGTH}")
        )
    if errors:
        raise InvalidInput(errors)
    return ChargeRequest(
        order_id=order_id, amount_cents=amount_cents, currency=currency, payment_token=payment_token
    )
