"""Inventory rules and values. Standard library only: no Flask, no SQLAlchemy."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from messaging.validation import (
    FieldError,
    InvalidInput,
    integer_error,
    require_idempotency_key,
)

SKU_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_ORDER_ID_LENGTH = 100
MAX_LINES = 100
# Bounds keep every sum inside PostgreSQL's 32-bit integer columns.
MAX_LINE_QUANTITY = 1_000_000
MAX_STOCK = 1_000_000_000
MAX_PRICE_CENTS = 100_000_000
MAX_NAME_LENGTH = 200
# At most this many units available is `low` stock: what the catalog's events say instead of
# the count, so that most sales change nothing they carry (inventory_service/catalog.py).
LOW_STOCK_UNITS = 10


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    RESTOCKED = "RESTOCKED"  # committed, then the order was cancelled: sold units back on sale


class Availability(StrEnum):
    """A product's stock as the catalog's events tell it: a class, not a count."""

    IN_STOCK = "in_stock"
    LOW = "low"
    OUT_OF_STOCK = "out_of_stock"


class ReleaseReason(StrEnum):
    """Why a reservation is RELEASED: the order service asked, or the hold ran out."""

    ORDER = "order"
    EXPIRED = "expired"


# --- errors: domain words, mapped to problem+json by api.py -------------------------------


class InventoryError(Exception):
    """Base of every rule the inventory enforces."""


class OutOfStock(InventoryError):
    def __init__(self, *, sku: str) -> None:
        self.sku = sku
        super().__init__(f"not enough stock of {sku}")


class UnknownSku(InventoryError):
    def __init__(self, *, sku: str) -> None:
        self.sku = sku
        super().__init__(f"no product {sku}")


class ProductNotFound(InventoryError):
    def __init__(self, *, sku: str) -> None:
        self.sku = sku
        super().__init__(f"no product {sku}")


class ReservationNotFound(InventoryError):
    def __init__(self, *, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"no reservation for order {order_id}")


class IdempotencyKeyReused(InventoryError):
    def __init__(self, *, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} already has a reservation with other items")


class IllegalTransition(InventoryError):
    def __init__(self, *, order_id: str, current: ReservationStatus, wanted: ReservationStatus) -> None:
        self.order_id, self.current, self.wanted = order_id, current, wanted
        super().__init__(f"reservation {order_id} is {current}, it cannot become {wanted}")


class ReservationReleased(IllegalTransition):
    pass


class ReservationCommitted(IllegalTransition):
    pass


class ReservationNotCommitted(IllegalTransition):
    pass


class ReservationRestocked(IllegalTransition):
    pass


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestedLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ReservationRequest:
    order_id: str
    lines: tuple[RequestedLine, ...]  # merged per SKU and sorted: the lock order


@dataclass(frozen=True)
class ReservedLine:
    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class Reservation:
    order_id: str
    status: ReservationStatus
    lines: tuple[ReservedLine, ...]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None  # when a RESERVED hold runs out
    release_reason: ReleaseReason | None = None  # set when (and only when) RELEASED

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)

    def requested_lines(self) -> tuple[RequestedLine, ...]:
        return tuple(RequestedLine(sku=line.sku, quantity=line.quantity) for line in self.lines)


@dataclass(frozen=True)
class ProductSpec:
    """What PUT /products/{sku} may set; reserved and sold only move through reservations."""

    name: str
    price_cents: int
    available: int


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    available: int
    reserved: int
    sold: int
    version: int  # one more at each change the catalog's events carry (catalog.py)
    updated_at: datetime
    removed_at: datetime | None = None  # removed from sale: kept, for its reservations' lines

    @property
    def availability(self) -> Availability:
        return availability(self.available)


# --- rules ----------------------------------------------------------------------------------


def availability(available: int) -> Availability:
    if available == 0:
        return Availability.OUT_OF_STOCK
    return Availability.LOW if available <= LOW_STOCK_UNITS else Availability.IN_STOCK


def merge_lines(*, lines: Iterable[RequestedLine]) -> tuple[RequestedLine, ...]:
    """One line per SKU, sorted by SKU: concurrent multi-line orders lock rows in the same
    order (no deadlock), and a repeated SKU cannot be checked against stock twice."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return tuple(RequestedLine(sku=sku, quantity=totals[sku]) for sku in sorted(totals))


def units_by_sku(*, lines: Iterable[ReservedLine]) -> dict[str, int]:
    """Quantities summed per SKU (several reservations may name the same SKU)."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return totals


def reserve_idempotency_key(*, order_id: str) -> str:
    return f"reserve:{order_id}"


def restock_idempotency_key(*, order_id: str) -> str:
    return f"restock:{order_id}"


def check_idempotency_key(*, header: str | None, order_id: str) -> None:
    require_idempotency_key(header=header, expected=reserve_idempotency_key(order_id=order_id))


def check_restock_idempotency_key(*, header: str | None, order_id: str) -> None:
    require_idempotency_key(header=header, expected=restock_idempotency_key(order_id=order_id))


def check_replay(*, existing: Reservation, request: ReservationRequest) -> Reservation:
    """The same order asked again: the same items are a retry, other items a client bug."""
    if existing.status is ReservationStatus.RELEASED:
        raise ReservationReleased(
            order_id=existing.order_id, current=existing.status, wanted=ReservationStatus.RESERVED
        )
    if existing.status is ReservationStatus.RESTOCKED:
        raise ReservationRestocked(
            order_id=existing.order_id, current=existing.status, wanted=ReservationStatus.RESERVED
        )
    if existing.requested_lines() != request.lines:
        raise IdempotencyKeyReused(order_id=existing.order_id)
    return existing


def commit_target(*, order_id: str, current: ReservationStatus) -> ReservationStatus | None:
    """The status a commit moves to, or None when it already happened (idempotent)."""
    if current is ReservationStatus.RESERVED:
        return ReservationStatus.COMMITTED
    if current is ReservationStatus.COMMITTED:
        return None
    if current is ReservationStatus.RESTOCKED:
        raise ReservationRestocked(order_id=order_id, current=current, wanted=ReservationStatus.COMMITTED)
    raise ReservationReleased(order_id=order_id, current=current, wanted=ReservationStatus.COMMITTED)


def release_target(*, order_id: str, current: ReservationStatus) -> ReservationStatus | None:
    """The status a release moves to, or None when it already happened (idempotent)."""
    if current is ReservationStatus.RESERVED:
        return ReservationStatus.RELEASED
    if current is ReservationStatus.RELEASED:
        return None
    if current is ReservationStatus.RESTOCKED:
        raise ReservationRestocked(order_id=order_id, current=current, wanted=ReservationStatus.RELEASED)
    raise ReservationCommitted(order_id=order_id, current=current, wanted=ReservationStatus.RELEASED)


def restock_target(*, order_id: str, current: ReservationStatus) -> ReservationStatus | None:
    """A cancelled order's committed units go back on sale: the status a restock moves to,
    or None when it already happened (idempotent)."""
    if current is ReservationStatus.COMMITTED:
        return ReservationStatus.RESTOCKED
    if current is ReservationStatus.RESTOCKED:
        return None
    if current is ReservationStatus.RELEASED:
        raise ReservationReleased(order_id=order_id, current=current, wanted=ReservationStatus.RESTOCKED)
    raise ReservationNotCommitted(order_id=order_id, current=current, wanted=ReservationStatus.RESTOCKED)


# --- input parsing: JSON-shaped mappings in, values out ------------------------------------


def _sku_error(value: Any) -> str | None:
    if not isinstance(value, str) or not SKU_PATTERN.fullmatch(value):
        return "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
    return None


def validate_sku(*, sku: str) -> str:
    if message := _sku_error(sku):
        raise InvalidInput([FieldError(field="sku", message=message)])
    return sku


def validate_order_id(*, order_id: Any, field: str = "order_id") -> str:
    if not isinstance(order_id, str) or not 1 <= len(order_id) <= MAX_ORDER_ID_LENGTH:
        message = f"must be a string of 1 to {MAX_ORDER_ID_LENGTH} characters"
        raise InvalidInput([FieldError(field=field, message=message)])
    return order_id


def parse_reservation_request(*, body: Mapping[str, Any]) -> ReservationRequest:
    errors: list[FieldError] = []
    order_id: Any = body.get("order_id")  # JSON of any shape until checked below
    try:
        validate_order_id(order_id=order_id)
    except InvalidInput as invalid:
        errors.extend(invalid.errors)
    items = body.get("items")
    lines: list[RequestedLine] = []
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_LINES:
        errors.append(FieldError(field="items", message=f"must be a list of 1 to {MAX_LINES} items"))
        items = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(FieldError(field=f"items[{index}]", message="must be an object"))
            continue
        sku: Any = item.get("sku")  # JSON of any shape until checked below
        quantity: Any = item.get("quantity")
        if message := _sku_error(sku):
            errors.append(FieldError(field=f"items[{index}].sku", message=message))
        if message := integer_error(quantity, minimum=1, maximum=MAX_LINE_QUANTITY):
            errors.append(FieldError(field=f"items[{index}].quantity", message=message))
        lines.append(RequestedLine(sku=sku, quantity=quantity))
    if errors:
        raise InvalidInput(errors)
    return ReservationRequest(order_id=order_id, lines=merge_lines(lines=lines))


def parse_product_spec(*, body: Mapping[str, Any]) -> ProductSpec:
    errors: list[FieldError] = []
    name: Any = body.get("name")  # JSON of any shape until checked below
    price_cents: Any = body.get("price_cents")
    available: Any = body.get("available")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        errors.append(
            FieldError(field="name", message=f"must be a non-empty string of at most {MAX_NAME_LENGTH}")
        )
    if message := integer_error(price_cents, minimum=0, maximum=MAX_PRICE_CENTS):
        errors.append(FieldError(field="price_cents", message=message))
    if message := integer_error(available, minimum=0, maximum=MAX_STOCK):
        errors.append(FieldError(field="available", message=message))
    if errors:
        raise InvalidInput(errors)
    return ProductSpec(name=name, price_cents=price_cents, available=available)
