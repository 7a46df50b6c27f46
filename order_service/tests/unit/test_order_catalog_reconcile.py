"""The catalog copy against the inventory's GET /products (order_service/catalog_reconcile.py):
one line per difference, and the periodic round's gauge (fake data, no network)."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from messaging.settings import ConfigurationError
from order_service.catalog_follower import settings_from_env
from order_service.catalog_reconcile import catalog_differences, reconcile_every
from order_service.domain import CatalogItem

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 2, 10, tzinfo=UTC)


def item(sku, *, version=1, removed=False, **fields):
    state = {"name": f"{sku} mug", "price_cents": 1200, "availability": "in_stock", **fields}
    return CatalogItem(sku=sku, removed=removed, version=version, changed_at=NOW, copied_at=NOW, **state)


def product(sku, *, version=1, **fields):
    """As GET /products answers it: stock figures the copy does not hold included."""
    state = {"name": f"{sku} mug", "price_cents": 1200, "availability": "in_stock", **fields}
    return {"sku": sku, "available": 5, "reserved": 1, "sold": 2, "version": version, **state}


def test_a_copy_that_converged_has_no_difference_removed_products_included():
    copy = [item("A"), item("B", version=3, price_cents=990), item("GONE", version=2, removed=True)]
    inventory = [product("B", version=3, price_cents=990), product("A")]

    assert catalog_differences(copy, inventory) == []


def test_every_difference_is_one_line_naming_its_sku():
    copy = [
        item("NAME", name="old"),
        item("PRICE", version=2, price_cents=1000),
        item("STOCK", availability="low"),
        item("REMOVED", version=4, removed=True),
        item("EXTRA", version=2),
    ]
    inventory = [
        product("NAME", name="new"),
        product("PRICE", version=3, price_cents=1100),
        product("STOCK", availability="out_of_stock"),
        product("REMOVED", version=3),
        product("MISSING", version=5),
    ]

    assert catalog_differences(copy, inventory) == [
        "EXTRA: in the copy (version 2), not in the inventory",
        "MISSING: missing in the copy (inventory version 5)",
        "NAME: name differs: copy 'old', inventory 'new'",
        "PRICE: price_cents differs: copy 1000, inventory 1100",
        "PRICE: version differs: copy 2, inventory 3",
        "REMOVED: removed in the copy (version 4), on sale in the inventory",
        "STOCK: availability differs: copy 'low', inventory 'out_of_stock'",
    ]


def test_an_answer_it_cannot_read_is_a_difference_not_an_error():
    lines = catalog_differences([item("A")], [product("A"), {"name": "no sku"}, ["not", "a product"]])

    assert len(lines) == 2 and all(line.startswith("?: the inventory answered") for line in lines)


def gauge() -> float:
    return REGISTRY.get_sample_value("pipeline_catalog_differences")


def rounds(*outcomes):
    """reconcile_every's rounds, each an answer or an error: the gauge before the first and
    after each one."""
    stop, seen, pending = threading.Event(), [], list(outcomes)

    def differences():
        seen.append(gauge())
        outcome = pending.pop(0)
        if not pending:
            stop.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    reconcile_every(0.001, stop=stop, differences=differences)
    return [*seen, gauge()]


def test_the_gauge_counts_the_differences_and_is_unknown_before_and_after_a_failed_round():
    before, two, failed, none = rounds(["A: ...", "B: ..."], ConnectionError("inventory down"), [])

    assert math.isnan(before) and two == 2 and math.isnan(failed) and none == 0


def test_order_catalog_reads_the_order_services_settings_and_its_own():
    environ = {"DATABASE_URL": "postgresql://x/y", "ORDER_SERVICE_TOKEN": "t", "INVENTORY_URL": "http://i"}

    defaults = settings_from_env(environ)
    never = settings_from_env({**environ, "CATALOG_RECONCILE_SECONDS": "0", "CATALOG_BATCH_SIZE": "100"})

    assert (defaults.inventory_url, defaults.service_token) == ("http://i", "t")
    assert (defaults.batch_size, defaults.reconcile_seconds) == (500, 60.0)
    assert (never.batch_size, never.reconcile_seconds) == (100, 0.0)
    with pytest.raises(ConfigurationError, match="CATALOG_RECONCILE_SECONDS"):
        settings_from_env({**environ, "CATALOG_RECONCILE_SECONDS": "-1"})
