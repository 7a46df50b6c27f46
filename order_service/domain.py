"""Order rules and values: the Order, validation, the state machine, idempotency
fingerprints. Standard library only: no Flask, no SQLAlchemy."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeGuard

from messaging.backoff import backoff_seconds  # standard library only, like this module
from messaging.validation import FieldError, InvalidInput


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # accepted, stock not yet reserved
    RESERVED = "RESERVED"  # stock held; charging (or committing the stock after a capture)
    PAYMENT_PENDING = "PAYMENT_PENDING"  # the charge's outcome is unknown (timed out): being looked up
    CONFIRMED = "CONFIRMED"  # paid and stock committed
    SHIPPED = "SHIPPED"
    REJECTED = "REJECTED"  # could not reserve (out of stock, unknown sku), or not at the price seen
    FAILED = "FAILED"  # payment declined, or a dependency failed before money moved
    CANCELLED = "CANCELLED"  # cancelled by the customer before dispatch: refunded, restocked


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.RESERVED, OrderStatus.REJECTED, OrderStatus.FAILED}),
    OrderStatus.RESERVED: frozenset({OrderStatus.PAYMENT_PENDING, OrderStatus.CONFIRMED, OrderStatus.FAILED}),
    OrderStatus.PAYMENT_PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.FAILED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.FAILED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}
FINAL_STATUSES = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
# The saga is still running for these: a sweeper resumes any that stop moving.
IN_FLIGHT_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.RESERVED, OrderStatus.PAYMENT_PENDING})


class FailureReason(StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_SKU = "unknown_sku"
    PAYMENT_DECLINED = "payment_declined"
    INVENTORY_UNAVAILABLE = "inventory_unavailable"
    PAYMENT_UNAVAILABLE = "payment_unavailable"
    RESERVATION_EXPIRED = "reservation_expired"  # paid too late: the hold ran out; refunded
    TOTAL_NOT_CHARGEABLE = "total_not_chargeable"  # 0 (free items), or more than a charge can carry
    PRICE_CHANGED = "price_changed"  # the inventory's price is not the one the shopper saw


# What the payment service charges: 1 cent up to its amount column (a PostgreSQL integer, as
# the order's own total_cents). A total outside it is the order's, not payment's: it fails the
# order once reserved, never calls payment (whose 422 the client would take for "payment
# unavailable": a 503, and a breaker failure) and is never stored (a DataError: a 500).
MIN_CHARGE_CENTS, MAX_CHARGE_CENTS = 1, 2_147_483_647


def chargeable(total_cents: int) -> bool:
    return MIN_CHARGE_CENTS <= total_cents <= MAX_CHARGE_CENTS


@dataclass(frozen=True)
class Order:
    """An order as last persisted (db.py reads every order into one of these)."""

    id: str
    seq: int  # keyset pagination: newest first
    customer_id: str
    email: str
    status: OrderStatus
    # {"sku", "quantity", "unit_price_cents"}: the price the shopper saw (None: not sent) until
    # the stock is reserved, then the inventory's; a price_changed rejection keeps the shopper's.
    items: tuple[dict[str, Any], ...]
    total_cents: int | None  # known once reserved
    currency: str
    payment_token: str
    failure_reason: str | None
    failed_step: str | None
    stock_settled: bool  # False while inventory has not been told the reservation's fate
    payment_settled: bool  # False while a captured payment still has to be refunded
    attempts: int
    next_attempt_at: datetime  # the sweeper resumes an unfinished order once this has passed
    created_at: datetime
    updated_at: datetime  # when it last moved: the time of its last transition's step
    last_step: int  # the seq of its timeline's last step (see Step)


@dataclass(frozen=True)
class Transition:
    """One step of an order's timeline."""

    at: datetime
    from_status: str | None  # None: the order's creation
    to_status: str
    cause: str
    attempt: int


# The order service is the one sequencer of an order's steps (its timeline, what the storefront
# shows live): each transition and each email sent is a Step with the next per-order `seq`,
# recorded with the change and announced by an `order.step` event (contracts/README.md).
STEP_KINDS = {
    OrderStatus.PENDING: "placed",
    OrderStatus.RESERVED: "reserved",
    OrderStatus.PAYMENT_PENDING: "payment_pending",
    OrderStatus.CONFIRMED: "confirmed",
    OrderStatus.SHIPPED: "shipped",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.FAILED: "failed",
    OrderStatus.CANCELLED: "cancelled",
}
EMAIL_STEP_PREFIX = "email."  # an email's step: "email." + the notification's kind
CANCELLED_REASON = "customer_request"


@dataclass(frozen=True)
class Step:
    """One step of an order's timeline: a transition (kind from STEP_KINDS) or an email sent
    (kind `email.<notification kind>`); `status` is the order's status once it was taken."""

    order_id: str
    seq: int  # 1, 2, 3 ... per order, in the order the steps were recorded
    kind: str
    status: str
    at: datetime
    reason: str | None  # why a REJECTED / FAILED / CANCELLED step happened

    def message(self) -> dict[str, Any]:
        """As the storefront's WebSocket sends it, and as the `order.step` event carries it."""
        message: dict[str, Any] = {
            "seq": self.seq, "status": self.status, "kind": self.kind, "at": self.at.isoformat()
        }  # fmt: skip
        if self.reason is not None:
            message["reason"] = self.reason
        return message


def step_reason(target: OrderStatus, failure_reason: str | None) -> str | None:
    """The reason a transition's step carries: the failure's, or the cancellation's."""
    if target == OrderStatus.CANCELLED:
        return CANCELLED_REASON
    return failure_reason if target in (OrderStatus.REJECTED, OrderStatus.FAILED) else None


def email_step_kind(notification_kind: str) -> str:
    return f"{EMAIL_STEP_PREFIX}{notification_kind}"


STEP_KIND_LENGTH = 40  # the longest kind order_steps takes


@dataclass(frozen=True)
class EmailSent:
    """A `notification.sent` event, as the order's timeline takes it: the step to record."""

    order_id: str
    kind: str  # the step's: email.<notification kind>
    at: datetime  # when the notification service sent it


def email_sent_from_event(data: Any) -> EmailSent:
    """A `notification.sent` event's data as the step it makes; ValueError when it is not one
    (a kind too long to record, a time without its offset)."""
    try:
        order_id, kind, at = data["order_id"], data["kind"], datetime.fromisoformat(data["sent_at"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not an email sent: {error!r}") from error
    if not _short_string(order_id, maximum=100):
        raise ValueError("not an email sent: order_id")
    if not _short_string(kind, maximum=STEP_KIND_LENGTH - len(EMAIL_STEP_PREFIX)):
        raise ValueError("not an email sent: kind")
    if at.utcoffset() is None:
        raise ValueError("not an email sent: sent_at without an offset")
    return EmailSent(order_id=order_id, kind=email_step_kind(kind), at=at)


def step_from_event(data: Any) -> Step:
    """An `order.step` event's data as a Step; ValueError when it is not one."""
    try:
        order_id, seq, kind, status = data["order_id"], data["seq"], data["kind"], data["status"]
        at = datetime.fromisoformat(data["at"])
        reason = data.get("reason")
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not an order step: {error!r}") from error
    if not (isinstance(order_id, str) and _is_int(seq) and seq >= 1 and isinstance(kind, str)):
        raise ValueError("not an order step: order_id, seq or kind")
    if not isinstance(status, str) or not (reason is None or isinstance(reason, str)):
        raise ValueError("not an order step: status or reason")
    return Step(order_id=order_id, seq=seq, kind=kind, status=status, at=at, reason=reason)


@dataclass(frozen=True)
class JournalEntry:
    """One event of the journal stream, as its index keeps it (order_service/journal.py)."""

    event_id: str
    stream_offset: int  # where the broker's stream holds it
    order_id: str | None  # the event's subject (None: about no order)
    event_type: str
    producer: str  # the envelope's `source`
    occurred_at: datetime  # the envelope's `time`
    trace_id: str | None  # from the message's `traceparent` header, when it has one


def stock_action(status: str) -> str | None:
    """What inventory must be told once an order is in `status` (None: nothing)."""
    return {
        OrderStatus.REJECTED: "release",
        OrderStatus.FAILED: "release",
        OrderStatus.CANCELLED: "restock",
    }.get(OrderStatus(status))


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"an order cannot go from {current} to {target}")
        self.current, self.target = current, target


class InvalidOrder(ValueError):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("invalid order")
        self.errors = errors


class OrderNotFound(LookupError):
    pass


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came with a different body."""


class OrderAlreadyShipped(Exception):
    """The parcel left: too late to cancel."""


class OrderNotCancellable(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"an order in {status} cannot be cancelled")
        self.status = status


def check_transition(*, current: str, target: str) -> None:
    if OrderStatus(target) not in TRANSITIONS[OrderStatus(current)]:
        raise IllegalTransition(current, target)


def sources_of(target: str) -> list[str]:
    """The statuses an order may move to `target` from (sorted: a stable SQL statement)."""
    return sorted(status for status, targets in TRANSITIONS.items() if OrderStatus(target) in targets)


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int | None = None  # the price the shopper saw, when the client sent it


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    email: str
    items: tuple[OrderLine, ...]
    payment_token: str


# Matched whole (fullmatch): with match() and ^...$, "$" also matches before a final "\n", so
# "SKU-1\n" passed here and failed at the inventory (a 503 that counted against its breaker),
# and "ada@example.test\n" was accepted for an email no notification could be sent to.
SKU_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
SKU_RULE = "1 to 64 characters of letters, digits, '.', '_' or '-'"
EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}")
MAX_LINES = 50
MAX_QUANTITY = 1000


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _short_string(value: Any, *, maximum: int) -> bool:
    return isinstance(value, str) and len(value.strip()) > 0 and len(value) <= maximum


def parse_place_order(body: dict[str, Any]) -> PlaceOrder:
    """Validate a POST /orders body; every problem is reported, not just the first."""
    errors: list[dict[str, str]] = []

    def error(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    if not _short_string(body.get("customer_id"), maximum=100):
        error("customer_id", "a non-empty string of at most 100 characters")
    email: Any = body.get("email")  # JSON of any shape until checked below
    if not (isinstance(email, str) and len(email) <= 254 and EMAIL_PATTERN.fullmatch(email)):
        error("email", "a valid email address")
    if not _short_string(body.get("payment_token"), maximum=100):
        error("payment_token", "a non-empty string of at most 100 characters")
    items = body.get("items")
    lines: list[OrderLine] = []
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_LINES:
        error("items", f"a list of 1 to {MAX_LINES} lines")
        items = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            error(f"items[{index}]", "an object with sku and quantity")
            continue
        sku: Any = item.get("sku")  # JSON of any shape until checked below
        quantity: Any = item.get("quantity")
        price: Any = item.get("unit_price_cents")  # optional: null is the same as absent
        if not (isinstance(sku, str) and SKU_PATTERN.fullmatch(sku)):
            error(f"items[{index}].sku", SKU_RULE)
        if not (_is_int(quantity) and 1 <= quantity <= MAX_QUANTITY):
            error(f"items[{index}].quantity", f"an integer from 1 to {MAX_QUANTITY}")
        if price is not None and not (_is_int(price) and 0 <= price <= MAX_CHARGE_CENTS):
            error(f"items[{index}].unit_price_cents", f"an integer from 0 to {MAX_CHARGE_CENTS}")
        if not errors:
            lines.append(OrderLine(sku=sku, quantity=quantity, unit_price_cents=price))
    if errors:
        raise InvalidOrder(errors)
    return PlaceOrder(
        customer_id=body["customer_id"],
        email=body["email"],
        items=tuple(lines),
        payment_token=body["payment_token"],
    )


def request_fingerprint(body: dict[str, Any]) -> str:
    """Same body (whatever its key order or spacing) -> same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def retry_delay_seconds(attempt: int, *, jitter: float) -> float:
    """Backoff for resolving an unknown outcome: 1 s, 2 s, 4 s ... capped at 60 s; `jitter`
    in [0, 1) spreads retries of many orders apart."""
    return backoff_seconds(attempt, first=1.0, cap=60.0, spread=0.5, draw=lambda: 1.0 - jitter)


# --- the catalog copy (order_service/catalog.py) ------------------------------------------


class Availability(StrEnum):
    """The inventory's coarse word for its stock, carried by its product events."""

    IN_STOCK = "in_stock"
    LOW = "low"
    OUT_OF_STOCK = "out_of_stock"


@dataclass(frozen=True)
class CatalogItem:
    """A product as the inventory's events last described it (the inventory is its only writer)."""

    sku: str
    name: str
    price_cents: int
    availability: str  # an Availability, kept as text: a newer inventory may add a word
    removed: bool
    version: int  # the inventory's, per product: a higher one is a later state
    changed_at: datetime  # when the inventory made that change
    copied_at: datetime  # when this copy took it


class ProductNotFound(LookupError):
    """GET /catalog/{sku}: the copy has no such product on sale (unknown, or removed)."""


class ProductRemoved(Exception):
    """POST /orders: a line's SKU that the copy knows the inventory removed."""

    def __init__(self, sku: str) -> None:
        super().__init__(f"{sku} is no longer sold")
        self.sku = sku


def validate_sku(*, sku: str) -> str:
    if not SKU_PATTERN.fullmatch(sku):
        raise InvalidInput([FieldError(field="sku", message=SKU_RULE)])
    return sku


def refuse_removed(lines: tuple[OrderLine, ...], copy: Mapping[str, CatalogItem]) -> None:
    """ProductRemoved for the first line whose SKU the copy (`copy`: its items among the
    order's SKUs) knows to be removed. A SKU it does not know goes on to the inventory: the
    copy may be seconds behind, and the inventory's reserve answers for it (unknown-sku)."""
    for line in lines:
        item = copy.get(line.sku)
        if item is not None and item.removed:
            raise ProductRemoved(line.sku)


@dataclass(frozen=True)
class PriceChange:
    sku: str
    seen_cents: int  # what the shopper was shown
    price_cents: int | None  # the inventory's at reserve time (None: it priced no such line)


def price_changes(sent: tuple[dict[str, Any], ...], priced: list[dict[str, Any]]) -> list[PriceChange]:
    """The lines of the order as sent whose shopper-seen `unit_price_cents` is not the
    inventory's price in the reservation (`priced`). The inventory is the single writer of
    prices, so its price at reserve time decides; one that differs from the price seen rejects
    the order rather than charging a price nobody saw. Lines sent without a price take the
    inventory's."""
    prices = {line["sku"]: line["unit_price_cents"] for line in priced}
    return [
        PriceChange(sku=line["sku"], seen_cents=line["unit_price_cents"], price_cents=prices.get(line["sku"]))
        for line in sent
        if line.get("unit_price_cents") is not None and prices.get(line["sku"]) != line["unit_price_cents"]
    ]
