"""The order API against its OpenAPI document: generated requests, valid and invalid, to every
operation, on a real database; no 5xx and no answer the document does not describe. Inventory,
payment and warehouse are fakes (no network) that answer each generated order by its first SKU
and its payment token, so that the generated orders meet every outcome of the saga. The catalog
copy holds a product on sale and a removed one, under the SKUs generated most often."""

from __future__ import annotations

import zlib

import pytest

from order_service.api import create_app
from order_service.config import Settings
from order_service.tests.integration.fakes import FakeInventory, FakePayment, FakeWarehouse
from order_service.tests.integration.support import copy_product, make_deps
from testsupport.callers import TEST_CALLERS
from testsupport.openapi_fuzz import fuzz

pytestmark = pytest.mark.fuzz


def bucket(text: str) -> int:
    """0 to 9, the same for the same text in every run (FUZZ_SEED replays a run)."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % 10


class VaryingInventory(FakeInventory):
    """By the first line's SKU: reserved mostly; out of stock or unknown SKU now and then. Never
    down: a dependency down is a 503 (test_order_openapi.py), which the fuzz counts as a failure."""

    def reserve(self, *, order_id, items):
        self.refuse = {0: "out-of-stock", 1: "unknown-sku"}.get(bucket(items[0]["sku"]))
        return super().reserve(order_id=order_id, items=items)


class VaryingPayment(FakePayment):
    """By the token: captured mostly; declined, or an answer that never came (a timeout: 202
    PAYMENT_PENDING) now and then."""

    def charge(self, **charge):
        outcome = bucket(charge["payment_token"])
        self.decline, self.down, self.maybe_applied = outcome == 0, outcome == 1, outcome == 1
        return super().charge(**charge)


def test_generated_requests_get_documented_answers(engine, fuzz_summary):
    copy_product(engine, "0")
    copy_product(engine, "1", removed=True)
    deps = make_deps(
        engine, inventory=VaryingInventory(), payment=VaryingPayment(), warehouse=FakeWarehouse()
    )
    app = create_app(Settings(database_url="unused", service_token="unused", callers=TEST_CALLERS), deps=deps)
    report = fuzz(app, service="order", examples=150)
    fuzz_summary(report.line())
    assert report.requests >= 1000
    assert report.failures == [], "\n".join(report.failures[:20])
