"""Warehouse rules and values (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SOURCE = "warehouse_service"
ORDER_CONFIRMED = "order.confirmed"
SHIPMENT_DISPATCHED = "shipment.dispatched"


class ShipmentStatus(StrEnum):
    PENDING = "PENDING"
    DISPATCHED = "DISPATCHED"


class InvalidOrderEvent(ValueError):
    """An order.confirmed event we cannot ship: no retry will fix it."""


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
class DispatchedShipment:
    shipment_id: str
    order_id: str
    email: str
    correlation_id: str | None
    dispatched_at: datetime


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
    if shipment.dispatched_at.tzinfo is None:
        raise ValueError("dispatched_at must be timezone-aware")
    """The data of shipment.dispatched v1 (contracts/events/shipment.dispatched)."""
    return {
        "shipment_id": shipment.shipment_id,
        "order_id": shipment.order_id,
        "email": shipment.email,
        "dispatched_at": shipment.dispatched_at.astimezone(UTC).isoformat(),  # RFC 3339, UTC
    }
