"""Events for tests: a contract's example, re-keyed so that every test has its own order and event."""

from __future__ import annotations

import uuid

from contracts import example_event
from messaging.envelope import Envelope, envelope_from_dict, new_event


def example_envelope(
    event_type: str, *, order_id: str | None = None, event_id: str | None = None
) -> Envelope:
    event = example_event(event_type)
    order_id = order_id or str(uuid.uuid4())
    event["id"] = event_id or str(uuid.uuid4())
    event["data"]["order_id"] = event["subject"] = event["correlationid"] = order_id
    return envelope_from_dict(event)


def product_event(
    sku: str,
    version: int,
    *,
    type: str = "product.changed",
    name: str | None = None,
    price_cents: int = 1200,
    availability: str = "in_stock",
    removed: bool = False,
    changed_at: str = "2026-12-02T10:00:00+00:00",
) -> Envelope:
    """A product event as the inventory publishes it (the product's whole state), for the
    catalog copy's tests; the name says its version unless given."""
    return new_event(
        type=type,
        source="inventory_service",
        subject=sku,
        data={
            "sku": sku,
            "name": name or f"{sku} v{version}",
            "price_cents": price_cents,
            "availability": availability,
            "removed": removed,
            "version": version,
            "changed_at": changed_at,
        },
    )
