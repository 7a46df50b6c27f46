"""The order service uses its copy of the inventory's catalog: GET /catalog answers from it
alone, POST /orders refuses a removed product before any call, and the price the shopper saw
is held to the inventory's at reserve time (real PostgreSQL, fake inventory and payment)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from contracts.schemas import validate_event
from order_service import db, handlers
from order_service.api import create_app
from order_service.config import Settings
from order_service.tests.integration.fakes import FakeInventory, FakePayment
from order_service.tests.integration.support import copy_product, make_deps, order_body, outbox_events
from testsupport.callers import TEST_CALLERS


def client_of(engine, **fakes):
    settings = Settings(database_url="unused", service_token="unused", callers=TEST_CALLERS)
    return create_app(settings, deps=make_deps(engine, **fakes)).test_client()


@pytest.fixture
def inventory():
    return FakeInventory(unit_price_cents=1000)


@pytest.fixture
def client(engine, inventory):
    copy_product(engine, "MUG", price_cents=1000)
    copy_product(engine, "CUP", price_cents=800, availability="low", version=3)
    copy_product(engine, "GONE", removed=True, version=7)
    return client_of(engine, inventory=inventory)


def place(client, *items, key="k-1"):
    return client.post("/orders", json=order_body(items=list(items)), headers={"Idempotency-Key": key})


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_the_catalog_is_the_copy_s_products_on_sale_in_the_inventory_s_shape(client, inventory):
    response = client.get("/catalog")

    assert response.status_code == 200
    assert [product["sku"] for product in response.json] == ["CUP", "MUG"]  # by SKU, GONE left out
    assert response.json[0] == {
        "sku": "CUP", "name": "Product CUP", "price_cents": 800, "availability": "low", "version": 3,
        "updated_at": "2026-01-15T09:30:00+00:00",
    }  # fmt: skip
    assert inventory.calls == []


def test_one_product_is_found_by_sku_unless_unknown_or_removed(client):
    found = client.get("/catalog/MUG")
    assert found.status_code == 200
    assert (found.json["price_cents"], found.json["availability"]) == (1000, "in_stock")
    for sku in ("NOPE", "GONE"):
        missing = client.get(f"/catalog/{sku}")
        assert (missing.status_code, missing.json["code"]) == (404, "product-not-found"), sku
        assert missing.content_type == "application/problem+json"
    invalid = client.get("/catalog/no%20spaces")
    assert (invalid.status_code, invalid.json["code"]) == (422, "validation-error")


def test_a_removed_product_is_refused_at_once_and_nothing_is_stored(client, engine, inventory):
    response = place(client, {"sku": "MUG", "quantity": 1}, {"sku": "GONE", "quantity": 2})

    assert (response.status_code, response.content_type) == (422, "application/problem+json")
    assert (response.json["code"], response.json["sku"]) == ("product-removed", "GONE")
    assert inventory.calls == []
    assert (count(engine, db.orders), count(engine, db.idempotency_keys), outbox_events(engine)) == (0, 0, [])


def test_a_refusal_keeps_no_answer_for_its_key(client, engine):
    place(client, {"sku": "GONE", "quantity": 1})
    with engine.begin() as connection:  # the inventory put it back on sale; the copy followed
        connection.execute(sa.text("UPDATE catalog SET removed = false, version = 8 WHERE sku = 'GONE'"))

    again = place(client, {"sku": "GONE", "quantity": 1})

    assert (again.status_code, again.json["status"]) == (201, "CONFIRMED")


def test_a_replay_gets_its_first_answer_whatever_the_copy_now_says(client, engine):
    first = place(client, {"sku": "MUG", "quantity": 1})
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE catalog SET removed = true, version = 2 WHERE sku = 'MUG'"))

    again = place(client, {"sku": "MUG", "quantity": 1})

    assert (again.status_code, again.json) == (201, first.json)


def test_a_sku_the_copy_does_not_know_goes_to_the_inventory(engine):
    inventory = FakeInventory(refuse="unknown-sku")

    response = place(client_of(engine, inventory=inventory), {"sku": "NEWER-THAN-THE-COPY", "quantity": 1})

    assert (response.status_code, response.json["status"]) == (201, "REJECTED")
    assert response.json["failure_reason"] == "unknown_sku"
    assert inventory.calls == [("reserve", response.json["id"])]


def test_the_price_seen_confirms_when_it_is_the_inventory_s(client, inventory):
    seen, unseen = {"sku": "MUG", "quantity": 2, "unit_price_cents": 1000}, {"sku": "CUP", "quantity": 1}

    response = place(client, seen, unseen)

    assert (response.status_code, response.json["status"]) == (201, "CONFIRMED")
    assert response.json["total_cents"] == 3000
    assert [item["unit_price_cents"] for item in response.json["items"]] == [1000, 1000]  # the inventory's
    assert inventory.calls == [("reserve", response.json["id"]), ("commit", response.json["id"])]


def test_a_price_seen_that_changed_by_the_reserve_rejects_and_releases(client, engine, inventory):
    """The copy says 1000 and the shopper saw it; the inventory changed it to 1200 meanwhile
    (its event not copied yet): the reserve's price decides, and nobody is charged 1200."""
    inventory.unit_price_cents, payment = 1200, FakePayment()
    client = client_of(engine, inventory=inventory, payment=payment)
    seen = client.get("/catalog/MUG").json["price_cents"]

    response = place(client, {"sku": "MUG", "quantity": 1, "unit_price_cents": seen})

    order_id = response.json["id"]
    assert (response.status_code, response.json["status"]) == (201, "REJECTED")
    assert response.json["failure_reason"] == "price_changed"
    assert response.json["items"] == [{"sku": "MUG", "quantity": 1, "unit_price_cents": 1000}]  # as seen
    assert inventory.calls == [("reserve", order_id), ("release", order_id)]
    assert payment.charges == []
    timeline = handlers.order_timeline(engine=engine, order_id=order_id)
    assert timeline.order.stock_settled is True
    assert "MUG 1000 -> 1200" in timeline.transitions[-1].cause
    [event] = outbox_events(engine)
    validate_event(event)
    assert (event["type"], event["data"]["reason"]) == ("order.rejected", "price_changed")


def test_a_price_change_whose_release_fails_is_owed_until_the_inventory_answers(client, engine):
    class ReleaseDown(FakeInventory):
        def release(self, *, order_id):
            self.down = True  # reached only after the reserve: the release is what fails
            return super().release(order_id=order_id)

    client = client_of(engine, inventory=ReleaseDown(unit_price_cents=1200))

    response = place(client, {"sku": "MUG", "quantity": 1, "unit_price_cents": 1000})

    assert (response.json["status"], response.json["failure_reason"]) == ("REJECTED", "price_changed")
    order = handlers.get_order(engine=engine, order_id=response.json["id"])
    assert order.stock_settled is False  # the sweeper releases it later (claim_due_orders)
