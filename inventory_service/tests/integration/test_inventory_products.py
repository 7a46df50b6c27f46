"""The catalog API against a real PostgreSQL: seed, upsert, readiness."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from inventory_service import db
from inventory_service.tests.integration.stock import put_product, reserve, stock
from messaging.credentials import ADMIN
from testsupport.callers import bearer


def test_the_migration_seeds_a_catalog(inventory_client):
    products = inventory_client.get("/products").get_json()

    by_sku = {product["sku"]: product for product in products}
    assert len(products) >= 5
    assert by_sku["SKU-RED-MUG"] == {
        "sku": "SKU-RED-MUG",
        "name": "Red mug",
        "price_cents": 1200,
        "available": 100,
        "reserved": 0,
        "sold": 0,
        "availability": "in_stock",
        "version": 1,
    }
    assert [product["sku"] for product in products] == sorted(by_sku)


def test_put_creates_then_updates_a_product(inventory_client):
    created = inventory_client.put(
        "/products/SKU-NEW", json={"name": "New", "price_cents": 10, "available": 3}, headers=bearer(ADMIN)
    )
    updated = inventory_client.put(
        "/products/SKU-NEW", json={"name": "Newer", "price_cents": 20, "available": 7}, headers=bearer(ADMIN)
    )

    assert created.status_code == 201
    assert updated.status_code == 200
    assert inventory_client.get("/products/SKU-NEW").get_json() == {
        "sku": "SKU-NEW",
        "name": "Newer",
        "price_cents": 20,
        "available": 7,
        "reserved": 0,
        "sold": 0,
        "availability": "low",
        "version": 2,  # the name and the price changed
    }


def test_put_sets_available_and_keeps_reserved_units(inventory_client):
    put_product(inventory_client, sku="SKU-KEEP", available=5)
    reserve(inventory_client, order_id="order-keep", items=[{"sku": "SKU-KEEP", "quantity": 2}])

    put_product(inventory_client, sku="SKU-KEEP", available=10)

    assert stock(inventory_client, sku="SKU-KEEP") == {"available": 10, "reserved": 2, "sold": 0}


def test_a_reservation_keeps_the_price_it_was_made_at(inventory_client):
    put_product(inventory_client, sku="SKU-PRICE", available=5, price_cents=300)
    reserve(inventory_client, order_id="order-price", items=[{"sku": "SKU-PRICE", "quantity": 2}])

    put_product(inventory_client, sku="SKU-PRICE", available=5, price_cents=999)

    reservation = inventory_client.get("/reservations/order-price").get_json()
    assert reservation["items"][0]["unit_price_cents"] == 300
    assert reservation["total_cents"] == 600


def test_unknown_product_is_404_problem(inventory_client):
    response = inventory_client.get("/products/SKU-MISSING")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "product-not-found"


def test_readyz_checks_the_database(inventory_client):
    response = inventory_client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": ["database"]}


def test_the_migrations_create_exactly_the_tables_db_py_declares(inventory_engine):
    with inventory_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
