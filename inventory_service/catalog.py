"""The catalog the inventory publishes (event-carried state transfer): which changes a product
event announces, and the events (contracts/events/product.*).

Every product event carries the product's whole state and its version, one more at each change
they carry, so a consumer keeps per SKU the state of the highest version it read, whatever the
order and the duplicates. A snapshot repeats the current version: a copy rebuilt from the
`catalog` stream's start gets every product even when the events that made it were dropped.
Standard library only, like domain.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from inventory_service.domain import Availability, Product, ProductSpec, availability
from messaging.envelope import Envelope, new_event

SOURCE = "inventory_service"
PRODUCT_CREATED = "product.created"
PRODUCT_CHANGED = "product.changed"
PRODUCT_REMOVED = "product.removed"
PRODUCT_SNAPSHOT = "product.snapshot"


@dataclass(frozen=True)
class Listing:
    """What the events say of a product, but its version and time: a change to any of these is
    a new version and an event; any other (units within their class) is neither."""

    name: str
    price_cents: int
    availability: Availability
    removed: bool


def listing(product: Product) -> Listing:
    return Listing(
        name=product.name,
        price_cents=product.price_cents,
        availability=product.availability,
        removed=product.removed_at is not None,
    )


def put_changes_listing(*, current: Product, spec: ProductSpec) -> bool:
    """Whether a PUT of `spec` changes what the events carry (it puts a removed product back)."""
    wanted = Listing(
        name=spec.name, price_cents=spec.price_cents, availability=availability(spec.available), removed=False
    )
    return listing(current) != wanted


def availability_moved(*, before: int, after: int) -> bool:
    """Whether stock going from `before` to `after` available units changes its class: most
    sales do not, and announce nothing."""
    return availability(before) is not availability(after)


def product_event(event_type: str, product: Product) -> Envelope:
    """A product event of `event_type` (PRODUCT_CREATED ...) about `product` as it now is."""
    return new_event(type=event_type, source=SOURCE, subject=product.sku, data=product_data(product))


def product_data(product: Product) -> dict[str, Any]:
    """The data of every product event v1: the product's whole state. `changed_at`: its row's
    last change (for a snapshot, that may be a sale that changed nothing the event carries)."""
    state = listing(product)
    return {
        "sku": product.sku,
        "name": state.name,
        "price_cents": state.price_cents,
        "availability": state.availability.value,
        "removed": state.removed,
        "version": product.version,
        "changed_at": product.updated_at.astimezone(UTC).isoformat(),  # RFC 3339, UTC
    }
