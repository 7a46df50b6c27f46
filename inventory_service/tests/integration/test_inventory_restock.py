"""Restock: a cancelled order's committed units go back on sale, once."""

from __future__ import annotations

from collections import Counter

from inventory_service.tests.integration.stock import (
    assert_books_balance,
    reserve,
    restock,
    run_at_once,
    status_and_code,
    stock,
)

MUGS = [{"sku": "SKU-RED-MUG", "quantity": 3}]


def committed(client, order_id: str) -> None:
    assert reserve(client, order_id=order_id, items=MUGS).status_code == 201
    assert client.post(f"/reservations/{order_id}/commit").status_code == 200


def test_restock_puts_sold_units_back_on_sale(inventory_client, inventory_engine):
    committed(inventory_client, "order-1")
    assert stock(inventory_client, sku="SKU-RED-MUG") == {"available": 97, "reserved": 0, "sold": 3}

    response = restock(inventory_client, order_id="order-1")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["order_id"], body["status"], body["release_reason"]) == ("order-1", "RESTOCKED", None)
    assert body["items"] == [{"sku": "SKU-RED-MUG", "quantity": 3, "unit_price_cents": 1200}]
    assert stock(inventory_client, sku="SKU-RED-MUG") == {"available": 100, "reserved": 0, "sold": 0}
    assert inventory_client.get("/reservations/order-1").get_json() == body
    assert_books_balance(inventory_client, inventory_engine, sku="SKU-RED-MUG", total=100)


def test_restock_again_answers_the_same_and_restocks_once(inventory_client):
    committed(inventory_client, "order-2")
    first = restock(inventory_client, order_id="order-2")

    again = restock(inventory_client, order_id="order-2")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    assert stock(inventory_client, sku="SKU-RED-MUG") == {"available": 100, "reserved": 0, "sold": 0}


def test_restock_of_a_reservation_never_committed_is_a_conflict(inventory_client):
    reserve(inventory_client, order_id="order-held", items=MUGS)
    reserve(inventory_client, order_id="order-gone", items=MUGS)
    inventory_client.post("/reservations/order-gone/release")
    before = stock(inventory_client, sku="SKU-RED-MUG")

    held = restock(inventory_client, order_id="order-held")
    gone = restock(inventory_client, order_id="order-gone")

    assert (held.status_code, held.get_json()["code"]) == (409, "reservation-not-committed")
    assert (gone.status_code, gone.get_json()["code"]) == (409, "reservation-released")
    assert stock(inventory_client, sku="SKU-RED-MUG") == before
    assert inventory_client.get("/reservations/order-held").get_json()["status"] == "RESERVED"


def test_restock_of_an_unknown_order_is_404_and_leaves_no_row(inventory_client):
    response = restock(inventory_client, order_id="nobody")

    assert (response.status_code, response.get_json()["code"]) == (404, "reservation-not-found")
    assert inventory_client.get("/reservations/nobody").status_code == 404


def test_restock_needs_its_own_idempotency_key(inventory_client):
    committed(inventory_client, "order-3")

    keys = ("restock:other", "commit:order-3")
    wrong = [restock(inventory_client, order_id="order-3", key=key) for key in keys]
    missing = inventory_client.post("/reservations/order-3/restock")

    for response in [*wrong, missing]:
        assert (response.status_code, response.get_json()["code"]) == (400, "invalid-idempotency-key")
    assert inventory_client.get("/reservations/order-3").get_json()["status"] == "COMMITTED"


def test_a_restocked_reservation_refuses_commit_release_and_reserve(inventory_client):
    committed(inventory_client, "order-4")
    restock(inventory_client, order_id="order-4")

    refused = [
        inventory_client.post("/reservations/order-4/commit"),
        inventory_client.post("/reservations/order-4/release"),
        reserve(inventory_client, order_id="order-4", items=MUGS),
    ]

    assert [(r.status_code, r.get_json()["code"]) for r in refused] == [(409, "reservation-restocked")] * 3
    assert stock(inventory_client, sku="SKU-RED-MUG") == {"available": 100, "reserved": 0, "sold": 0}


def test_concurrent_restocks_of_one_order_restock_once(inventory_app, inventory_client, inventory_engine):
    committed(inventory_client, "order-race")

    outcomes = Counter(
        run_at_once(
            inventory_app,
            calls=[lambda client: status_and_code(restock(client, order_id="order-race"))] * 10,
        )
    )

    assert outcomes == {(200, None): 10}
    assert stock(inventory_client, sku="SKU-RED-MUG") == {"available": 100, "reserved": 0, "sold": 0}
    assert_books_balance(inventory_client, inventory_engine, sku="SKU-RED-MUG", total=100)
