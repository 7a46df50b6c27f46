"""The catalog the inventory publishes, against a real PostgreSQL: a change its product events
carry puts one event in the outbox, in the transaction that makes it, at the product's next
version; any other change puts none. Every event read here is checked against its contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from inventory_service import db, handlers
from inventory_service.tests.integration.stock import (
    catalog_events,
    put_product,
    remove_product,
    reserve,
    restock,
)
from messaging.credentials import ADMIN
from testsupport.callers import bearer


def told(events: list[dict]) -> list[tuple]:
    """What each event says, in short: its type, version, availability and removal."""
    return [
        (event["type"], event["data"]["version"], event["data"]["availability"], event["data"]["removed"])
        for event in events
    ]


def versions(engine: sa.Engine) -> dict[str, int]:
    """Every product's version, removed ones included, read around the API."""
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(db.products.c.sku, db.products.c.version)).all())


def test_a_new_product_is_announced_at_version_1(inventory_client, inventory_engine):
    answer = put_product(inventory_client, sku="SKU-NEW", available=30, price_cents=700)

    [event] = catalog_events(inventory_engine, sku="SKU-NEW")
    assert (event["type"], event["source"], event["subject"]) == (
        "product.created",
        "inventory_service",
        "SKU-NEW",
    )
    assert "correlationid" not in event
    assert {**event["data"], "changed_at": "-"} == {
        "sku": "SKU-NEW",
        "name": "Sku-New",
        "price_cents": 700,
        "availability": "in_stock",
        "removed": False,
        "version": 1,
        "changed_at": "-",
    }
    assert (answer["version"], answer["availability"]) == (1, "in_stock")


def test_a_put_that_changes_nothing_the_events_carry_announces_nothing(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-SAME", available=30, price_cents=700)
    put_product(inventory_client, sku="SKU-SAME", available=30, price_cents=700)
    answer = put_product(inventory_client, sku="SKU-SAME", available=25, price_cents=700)  # still in stock

    assert told(catalog_events(inventory_engine, sku="SKU-SAME")) == [
        ("product.created", 1, "in_stock", False)
    ]
    assert (answer["available"], answer["version"]) == (25, 1)


def test_a_price_change_is_announced_at_the_next_version(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-PRICED", available=30, price_cents=700)
    answer = put_product(inventory_client, sku="SKU-PRICED", available=30, price_cents=750)

    created, changed = catalog_events(inventory_engine, sku="SKU-PRICED")
    assert (changed["type"], changed["data"]["version"], changed["data"]["price_cents"]) == (
        "product.changed",
        2,
        750,
    )
    assert changed["data"]["changed_at"] >= created["data"]["changed_at"]
    assert inventory_client.get("/products/SKU-PRICED").get_json()["version"] == answer["version"] == 2


def test_reservations_announce_only_the_moves_between_availability_classes(
    inventory_client, inventory_engine
):
    put_product(inventory_client, sku="SKU-CLASS", available=12)

    def hold(order_id: str, quantity: int) -> None:
        response = reserve(
            inventory_client, order_id=order_id, items=[{"sku": "SKU-CLASS", "quantity": quantity}]
        )
        assert response.status_code == 201, response.get_json()

    def release(order_id: str) -> None:
        assert inventory_client.post(f"/reservations/{order_id}/release").status_code == 200

    hold("o-1", 2)  # 12 -> 10: low
    hold("o-2", 1)  # 10 -> 9: still low, nothing to say
    hold("o-3", 9)  # 9 -> 0: out of stock
    release("o-3")  # 0 -> 9: low
    release("o-2")  # 9 -> 10: still low
    release("o-1")  # 10 -> 12: in stock

    assert told(catalog_events(inventory_engine, sku="SKU-CLASS")) == [
        ("product.created", 1, "in_stock", False),
        ("product.changed", 2, "low", False),
        ("product.changed", 3, "out_of_stock", False),
        ("product.changed", 4, "low", False),
        ("product.changed", 5, "in_stock", False),
    ]
    assert inventory_client.get("/products/SKU-CLASS").get_json()["version"] == 5


def test_a_commit_announces_nothing_and_a_restock_across_a_class_does(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-LAST", available=1)
    reserve(inventory_client, order_id="o-last", items=[{"sku": "SKU-LAST", "quantity": 1}])
    assert inventory_client.post("/reservations/o-last/commit").status_code == 200  # reserved -> sold
    assert restock(inventory_client, order_id="o-last").status_code == 200

    assert told(catalog_events(inventory_engine, sku="SKU-LAST")) == [
        ("product.created", 1, "low", False),
        ("product.changed", 2, "out_of_stock", False),  # the reservation
        ("product.changed", 3, "low", False),  # the restock
    ]


def test_an_expired_hold_that_puts_a_product_back_in_stock_is_announced(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-HELD", available=1)
    reserve(inventory_client, order_id="o-held", items=[{"sku": "SKU-HELD", "quantity": 1}])

    later = datetime.now(UTC) + timedelta(hours=1)  # past the 600 s hold
    assert handlers.expire_reservations(engine=inventory_engine, now=later) == ["o-held"]

    assert told(catalog_events(inventory_engine, sku="SKU-HELD"))[1:] == [
        ("product.changed", 2, "out_of_stock", False),
        ("product.changed", 3, "low", False),
    ]


def test_one_reservation_announces_each_of_its_products_that_changed_class(
    inventory_client, inventory_engine
):
    for sku, available in (("SKU-A", 11), ("SKU-B", 50), ("SKU-C", 1)):
        put_product(inventory_client, sku=sku, available=available)
    before = len(catalog_events(inventory_engine))

    items = [{"sku": sku, "quantity": 1} for sku in ("SKU-A", "SKU-B", "SKU-C")]
    assert reserve(inventory_client, order_id="o-abc", items=items).status_code == 201

    added = catalog_events(inventory_engine)[before:]
    assert sorted((event["subject"], *told([event])[0]) for event in added) == [
        ("SKU-A", "product.changed", 2, "low", False),
        ("SKU-C", "product.changed", 2, "out_of_stock", False),
    ]


def test_a_refused_reservation_announces_nothing(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-A", available=11)
    items = [{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-UNKNOWN", "quantity": 1}]

    assert reserve(inventory_client, order_id="o-refused", items=items).status_code == 422

    # SKU-A went low, then the transaction rolled back: its event with it.
    assert told(catalog_events(inventory_engine, sku="SKU-A")) == [("product.created", 1, "in_stock", False)]
    assert inventory_client.get("/products/SKU-A").get_json()["version"] == 1


def test_a_removed_product_is_off_sale_and_announced_once(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-GONE", available=5)

    removed = remove_product(inventory_client, sku="SKU-GONE")
    again = remove_product(inventory_client, sku="SKU-GONE")

    assert (removed.status_code, removed.data, again.status_code) == (204, b"", 204)
    assert told(catalog_events(inventory_engine, sku="SKU-GONE")) == [
        ("product.created", 1, "low", False),
        ("product.removed", 2, "low", True),
    ]
    assert inventory_client.get("/products/SKU-GONE").get_json()["code"] == "product-not-found"
    assert "SKU-GONE" not in {product["sku"] for product in inventory_client.get("/products").get_json()}
    refused = reserve(inventory_client, order_id="o-gone", items=[{"sku": "SKU-GONE", "quantity": 1}])
    assert (refused.status_code, refused.get_json()["code"], refused.get_json()["sku"]) == (
        422,
        "unknown-sku",
        "SKU-GONE",
    )


def test_removing_an_unknown_product_is_404(inventory_client, inventory_engine):
    before = catalog_events(inventory_engine)
    response = remove_product(inventory_client, sku="SKU-NEVER")

    assert (response.status_code, response.get_json()["code"]) == (404, "product-not-found")
    assert catalog_events(inventory_engine) == before


def test_a_put_puts_a_removed_product_back_at_a_new_version(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-BACK", available=5)
    remove_product(inventory_client, sku="SKU-BACK")

    response = inventory_client.put(
        "/products/SKU-BACK",
        json={"name": "Sku-Back", "price_cents": 500, "available": 5},  # the values it had
        headers=bearer(ADMIN),
    )

    assert (response.status_code, response.get_json()["version"]) == (200, 3)
    assert told(catalog_events(inventory_engine, sku="SKU-BACK"))[-1] == ("product.changed", 3, "low", False)
    assert inventory_client.get("/products/SKU-BACK").status_code == 200
    assert (
        reserve(inventory_client, order_id="o-back", items=[{"sku": "SKU-BACK", "quantity": 1}]).status_code
        == 201
    )


def test_a_removed_product_keeps_its_reservations_and_says_so_when_its_stock_moves(
    inventory_client, inventory_engine
):
    put_product(inventory_client, sku="SKU-KEPT", available=3)
    reserve(inventory_client, order_id="o-kept", items=[{"sku": "SKU-KEPT", "quantity": 3}])
    remove_product(inventory_client, sku="SKU-KEPT")

    assert inventory_client.post("/reservations/o-kept/release").get_json()["status"] == "RELEASED"

    assert told(catalog_events(inventory_engine, sku="SKU-KEPT")) == [
        ("product.created", 1, "low", False),
        ("product.changed", 2, "out_of_stock", False),
        ("product.removed", 3, "out_of_stock", True),
        ("product.changed", 4, "low", True),  # its units are back, and it stays removed
    ]


def test_a_snapshot_repeats_every_product_removed_ones_too_at_its_version(inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-SNAP", available=30, price_cents=100)
    put_product(inventory_client, sku="SKU-SNAP", available=30, price_cents=200)  # version 2
    put_product(inventory_client, sku="SKU-SNAP-GONE", available=30)
    remove_product(inventory_client, sku="SKU-SNAP-GONE")  # version 2, removed
    current = versions(inventory_engine)

    written = handlers.publish_snapshot(engine=inventory_engine, batch_size=2)  # 4 transactions

    snapshots = [event for event in catalog_events(inventory_engine) if event["type"] == "product.snapshot"]
    assert written == len(snapshots) == len(current) == 7  # the 5 seeded ones (version 1) and these
    assert {event["subject"]: event["data"]["version"] for event in snapshots} == current
    assert {event["subject"] for event in snapshots if event["data"]["removed"]} == {"SKU-SNAP-GONE"}
    assert versions(inventory_engine) == current  # a snapshot is no change


def test_the_expirers_snapshot_is_written_when_none_is_recent(inventory_engine):
    assert handlers.publish_snapshot(engine=inventory_engine, if_none_for_seconds=3600) == 5  # never one
    assert handlers.publish_snapshot(engine=inventory_engine, if_none_for_seconds=3600) == 0  # a recent one
    assert handlers.publish_snapshot(engine=inventory_engine, if_none_for_seconds=0) == 5  # none that new

    seeded = [event for event in catalog_events(inventory_engine) if event["subject"] == "SKU-RED-MUG"]
    assert told(seeded) == [("product.snapshot", 1, "in_stock", False)] * 2


def test_ten_thousand_products_are_snapshotted_a_batch_at_a_time(inventory_engine):
    with inventory_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO products (sku, name, price_cents, available) "
                "SELECT 'BULK-' || n, 'Bulk ' || n, 100 + n, n % 25 FROM generate_series(1, 10000) AS n"
            )
        )

    written = handlers.publish_snapshot(engine=inventory_engine)

    table = db.outbox.table
    subject = table.c.envelope["subject"].astext
    with inventory_engine.connect() as connection:
        rows, skus = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(subject))).where(
                table.c.event_type == "product.snapshot"
            )
        ).one()
    assert written == rows == skus == 10_005
