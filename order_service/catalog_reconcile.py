"""Reconciling the catalog copy with its source: the copy (order_service/catalog.py) against
the inventory's GET /products, one line per difference.

The copy is built from events only; this is the check that it converged: a product the
copy misses or still offers, or a name, price, availability or version that differs. The
inventory is read first, then the copy: a product that changes in between may show as a
difference for one round (the copy ahead of the answer, or not yet caught up), never for two.

`python -m order_service.catalog_follower reconcile` prints them and exits 1 when any;
order-catalog runs it every CATALOG_RECONCILE_SECONDS and sets pipeline_catalog_differences.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from messaging.metrics import CATALOG_DIFFERENCES
from order_service.catalog import list_items
from order_service.clients import InventoryClient
from order_service.domain import CatalogItem

log = logging.getLogger("catalog")
COMPARED = ("name", "price_cents", "availability", "version")  # what GET /products and the copy share


def catalog_differences(copy: list[CatalogItem], inventory: list[Any]) -> list[str]:
    """One line per difference, by SKU. `copy`: every row, removed ones included; `inventory`:
    GET /products as it answered (the products not removed), read tolerantly: an entry
    without a text `sku` is a difference of its own, not an error."""
    held = {item.sku: item for item in copy}
    lines, answered = [], set()
    for product in inventory:
        sku = product.get("sku") if isinstance(product, dict) else None
        if not isinstance(sku, str):
            lines.append(f"?: the inventory answered a product without a SKU: {str(product)[:200]}")
            continue
        answered.add(sku)
        item = held.get(sku)
        if item is None:
            lines.append(f"{sku}: missing in the copy (inventory version {product.get('version')})")
        elif item.removed:
            lines.append(f"{sku}: removed in the copy (version {item.version}), on sale in the inventory")
        else:
            lines.extend(
                f"{sku}: {field} differs: copy {getattr(item, field)!r}, inventory {product.get(field)!r}"
                for field in COMPARED
                if getattr(item, field) != product.get(field)
            )
    lines.extend(
        f"{item.sku}: in the copy (version {item.version}), not in the inventory"
        for item in copy
        if item.sku not in answered and not item.removed
    )
    return sorted(lines)


def reconcile(*, engine: sa.Engine, inventory: InventoryClient) -> list[str]:
    """The differences now (raises when the inventory or the database cannot answer)."""
    products = inventory.products()
    with engine.connect() as connection:
        copy = list_items(connection, removed=True)
    return catalog_differences(copy, products)


def reconcile_every(seconds: float, *, stop: threading.Event, differences: Callable[[], list[str]]) -> None:
    """The periodic round, on a thread of order-catalog: sets the gauge, logs what differs.
    A round that fails (the inventory or the database down) sets the gauge to NaN, unknown,
    rather than keep a value nobody checked, and the next round is the retry: the follower
    itself never waits for it."""
    CATALOG_DIFFERENCES.set(float("nan"))  # not reconciled yet
    while not stop.wait(seconds):
        try:
            found = differences()
        except Exception as error:  # noqa: BLE001 - a failed round is only the gauge's business
            CATALOG_DIFFERENCES.set(float("nan"))
            log.warning("catalog reconcile failed: %r", error)
            continue
        CATALOG_DIFFERENCES.set(len(found))
        if found:
            log.warning("catalog copy: %d difference(s): %s", len(found), "; ".join(found[:10]))
