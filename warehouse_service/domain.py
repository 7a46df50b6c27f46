"""Warehouse rules and values (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SOURCE = "warehouse_service"
ORDER_CONFIRMED = "order.confirmed"
ORDER_CANCELLED = "order.cancelled"
SHIPMENT_DISPATCHED = "shipment.dispatched"


class ShipmentStatus(StrEnum):
    PENDING = "PENDING"
    DISPATCHED = "DISPATCHED"
    CANCELLED = "CANCELLED"  # never dispatched: the order was cancelled first


class CancelOutcome(StrEnum):
    """What an order.cancelled did to the order's shipment."""

    CANCELLED = "cancelled"  # a PENDING shipment will not be dispatched
    TOMBSTONE = "tombstone"  # no shipment yet: a CANCELLED one blocks a late order.confirmed
    TOO_LATE = "too_late"  # already DISPATCHED: it stays so
    ALREADY_CANCELLED = "already_cancelled"


class InvalidOrderEvent(ValueError):
    """An order event we cannot act on: no retry will fix it."""


class ShipmentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ShipmentLine:
    sku: str
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity}


@dataclass(frozen=True)
class ShipmentRequest:
    """What the warehouse reads from order.confirmed; every other field is ignored (tolerant reader)."""

    order_id: str
    email: str
    lines: tuple[ShipmentLine, ...]


@dataclass(frozen=True)
class CancelledOrder:
    """What the warehouse reads from order.cancelled (tolerant reader)."""

    order_id: str
    email: str  # kept on a tombstone, where the column needs one; "" when the event has none


@dataclass(frozen=True)
class Shipment:
    """A shipment as the warehouse keeps it. A CANCELLED one with no lines is a tombstone: the
    order was cancelled before its order.confirmed arrived."""

    shipment_id: str
    order_id: str
    status: ShipmentStatus
    email: str
    lines: tuple[ShipmentLine, ...]
    created_at: datetime
    dispatched_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class DispatchedShipment:
    shipment_id: str
    order_id: str
    email: str
    correlation_id: str | None
    dispatched_at: datetime
    traceparent: str | None = None  # the span that created it (messaging.tracing)


def shipment_request_from_event(data: dict[str, Any]) -> ShipmentRequest:
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidOrderEvent("data.order_id must be a non-empty string")
    email = data.get("email")
    if not isinstance(email, str) or not email:
        # shipment.dispatched promises the customer's address to its readers.
        raise InvalidOrderEvent("data.email must be a non-empty string")
    items = data.get("items", [])
    if not isinstance(items, list):
        raise InvalidOrderEvent("data.items must be a list")
    return ShipmentRequest(order_id=order_id, email=email, lines=tuple(_line(item) for item in items))


def cancelled_order_from_event(data: dict[str, Any]) -> CancelledOrder:
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidOrderEvent("data.order_id must be a non-empty string")
    email = data.get("email")
    return CancelledOrder(order_id=order_id, email=email if isinstance(email, str) else "")


def cancel_outcome(*, current: ShipmentStatus | None) -> CancelOutcome:
    """What cancelling does to a shipment in `current` state (None: no shipment yet)."""
    if current is None:
        return CancelOutcome.TOMBSTONE
    return {
        ShipmentStatus.PENDING: CancelOutcome.CANCELLED,
        ShipmentStatus.DISPATCHED: CancelOutcome.TOO_LATE,
        ShipmentStatus.CANCELLED: CancelOutcome.ALREADY_CANCELLED,
    }[current]


def _line(item: Any) -> ShipmentLine:
    if not isinstance(item, dict):
        raise InvalidOrderEvent("each item must be an object")
    sku, quantity = item.get("sku"), item.get("quantity")
    # bool is an int in Python; a warehouse cannot pick True mugs.
    if not isinstance(sku, str) or not sku or not isinstance(quantity, int) or isinstance(quantity, bool):
        raise InvalidOrderEvent(f"item {item!r} needs a sku and an integer quantity")
    if quantity < 1:
        raise InvalidOrderEvent(f"item {sku} has quantity {quantity}")
    return ShipmentLine(sku=sku, quantity=quantity)


def dispatched_event_data(shipment: DispatchedShipment) -> dict[str, Any]:
    """The data of shipment.dispatched v1 (contracts/events/shipment.dispatched)."""
    if shipment.dispatched_at.tzinfo is None:
        raise ValueError("dispatched_at must be timezone-aware")
    return {
        "shipment_id": shipment.shipment_id,
        "order_id": shipment.order_id,
        "email": shipment.email,
        "dispatched_at": shipment.dispatched_at.astimezone(UTC).isoformat(),  # RFC 3339, UTC
    }
