"""Reserve, commit and release against a real PostgreSQL: quantities, idempotency, problems."""

from __future__ import annotations

from inventory_service.tests.integration.stock import put_product, reserve, stock, total_units


def test_reserve_moves_stock_and_answers_the_reservation(inventory_client):
    response = reserve(
        inventory_client,
        order_id="order-1",
        items=[{"sku": "SKU-RED-MUG", "quantity": 2}, {"sku": "SKU-TEAPOT", "quantity": 1}],
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["order_id"] == "order-1"
    assert body["status"] == "RESERVED"
    assert body["items"] == [
        {"sku": "SKU-RED-MUG", "quantity": 2, "unit_price_cents": 1200},
        {"sku": "SKU-TEAPOT", "quantity": 1, "unit_price_cents": 4500},
    ]
    assert body["total_cents"] == 2 * 1200 + 4500
    assert response.headers["Location"] == "/reservations/order-1"
    assert stock(inventory_client, sku="SKU-RED-MUG") == {"available": 98, "reserved": 2, "sold": 0}
    assert inventory_client.get("/reservations/order-1").get_json() == body


def test_duplicate_skus_in_one_request_are_merged(inventory_client):
    response = reserve(
        inventory_client,
        order_id="order-dup",
        items=[{"sku": "SKU-BLUE-MUG", "quantity": 1}, {"sku": "SKU-BLUE-MUG", "quantity": 2}],
    )

    assert response.status_code == 201
    assert response.get_json()["items"] == [{"sku": "SKU-BLUE-MUG", "quantity": 3, "unit_price_cents": 1200}]
    assert stock(inventory_client, sku="SKU-BLUE-MUG")["reserved"] == 3


def test_commit_moves_reserved_to_sold_and_is_idempotent(inventory_client):
    before = stock(inventory_client, sku="SKU-RED-MUG")
    reserve(inventory_client, order_id="order-2", items=[{"sku": "SKU-RED-MUG", "quantity": 3}])

    first = inventory_client.post("/reservations/order-2/commit")
    again = inventory_client.post("/reservations/order-2/commit")

    assert first.status_code == 200 and first.get_json()["status"] == "COMMITTED"
    assert again.status_code == 200 and again.get_json() == first.get_json()
    after = stock(inventory_client, sku="SKU-RED-MUG")
    assert after == {"available": before["available"] - 3, "reserved": 0, "sold": 3}
    assert total_units(after) == total_units(before)


def test_release_returns_stock_once(inventory_client):
    before = stock(inventory_client, sku="SKU-COFFEE-1KG")
    reserve(inventory_client, order_id="order-3", items=[{"sku": "SKU-COFFEE-1KG", "quantity": 5}])

    first = inventory_client.post("/reservations/order-3/release")
    again = inventory_client.post("/reservations/order-3/release")

    assert first.status_code == 200 and first.get_json()["status"] == "RELEASED"
    assert again.status_code == 200 and again.get_json()["status"] == "RELEASED"
    assert stock(inventory_client, sku="SKU-COFFEE-1KG") == before


def test_replay_answers_200_with_the_same_body_and_reserves_once(inventory_client):
    items = [{"sku": "SKU-TEA-TOWEL", "quantity": 4}]
    first = reserve(inventory_client, order_id="order-4", items=items)
    replay = reserve(inventory_client, order_id="order-4", items=items)

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.get_json() == first.get_json()
    assert stock(inventory_client, sku="SKU-TEA-TOWEL")["reserved"] == 4


def test_same_order_with_other_items_is_refused(inventory_client):
    reserve(inventory_client, order_id="order-5", items=[{"sku": "SKU-RED-MUG", "quantity": 1}])

    response = reserve(inventory_client, order_id="order-5", items=[{"sku": "SKU-RED-MUG", "quantity": 2}])

    assert response.status_code == 422
    assert response.get_json()["code"] == "idempotency-key-reused"
    assert stock(inventory_client, sku="SKU-RED-MUG")["reserved"] == 1


def test_out_of_stock_on_one_line_reserves_nothing(inventory_client):
    put_product(inventory_client, sku="SKU-LAST", available=1)
    before = {sku: stock(inventory_client, sku=sku) for sku in ("SKU-BLUE-MUG", "SKU-LAST")}

    # SKU-BLUE-MUG sorts (and is taken) first, then SKU-LAST is short: both must roll back.
    response = reserve(
        inventory_client,
        order_id="order-6",
        items=[{"sku": "SKU-BLUE-MUG", "quantity": 2}, {"sku": "SKU-LAST", "quantity": 2}],
    )

    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "out-of-stock"
    assert response.get_json()["sku"] == "SKU-LAST"
    assert {sku: stock(inventory_client, sku=sku) for sku in before} == before
    assert inventory_client.get("/reservations/order-6").status_code == 404


def test_unknown_sku_is_422_and_reserves_nothing(inventory_client):
    before = stock(inventory_client, sku="SKU-RED-MUG")

    response = reserve(
        inventory_client,
        order_id="order-7",
        items=[{"sku": "SKU-RED-MUG", "quantity": 1}, {"sku": "SKU-NOPE", "quantity": 1}],
    )

    assert response.status_code == 422
    assert (response.get_json()["code"], response.get_json()["sku"]) == ("unknown-sku", "SKU-NOPE")
    assert stock(inventory_client, sku="SKU-RED-MUG") == before


def test_failed_reserve_can_be_retried_once_stock_arrives(inventory_client):
    put_product(inventory_client, sku="SKU-RESTOCK", available=0)
    assert (
        reserve(
            inventory_client, order_id="order-8", items=[{"sku": "SKU-RESTOCK", "quantity": 1}]
        ).status_code
        == 409
    )

    put_product(inventory_client, sku="SKU-RESTOCK", available=1)
    retry = reserve(inventory_client, order_id="order-8", items=[{"sku": "SKU-RESTOCK", "quantity": 1}])

    assert retry.status_code == 201
    assert stock(inventory_client, sku="SKU-RESTOCK") == {"available": 0, "reserved": 1, "sold": 0}


def test_release_of_an_unknown_order_leaves_a_tombstone_that_blocks_a_late_reserve(inventory_client):
    before = stock(inventory_client, sku="SKU-RED-MUG")

    released = inventory_client.post("/reservations/order-late/release")
    late = reserve(inventory_client, order_id="order-late", items=[{"sku": "SKU-RED-MUG", "quantity": 1}])

    assert released.status_code == 200
    assert released.get_json()["status"] == "RELEASED" and released.get_json()["items"] == []
    assert late.status_code == 409 and late.get_json()["code"] == "reservation-released"
    assert stock(inventory_client, sku="SKU-RED-MUG") == before


def test_commit_after_release_and_release_after_commit_are_conflicts(inventory_client):
    reserve(inventory_client, order_id="order-r", items=[{"sku": "SKU-RED-MUG", "quantity": 1}])
    reserve(inventory_client, order_id="order-c", items=[{"sku": "SKU-RED-MUG", "quantity": 1}])
    inventory_client.post("/reservations/order-r/release")
    inventory_client.post("/reservations/order-c/commit")

    commit_released = inventory_client.post("/reservations/order-r/commit")
    release_committed = inventory_client.post("/reservations/order-c/release")

    assert (commit_released.status_code, commit_released.get_json()["code"]) == (409, "reservation-released")
    assert (release_committed.status_code, release_committed.get_json()["code"]) == (
        409,
        "reservation-committed",
    )
    assert stock(inventory_client, sku="SKU-RED-MUG") == {"available": 99, "reserved": 0, "sold": 1}


def test_commit_or_read_of_an_unknown_order_is_404(inventory_client):
    commit = inventory_client.post("/reservations/nobody/commit")
    read = inventory_client.get("/reservations/nobody")

    assert (commit.status_code, commit.get_json()["code"]) == (404, "reservation-not-found")
    assert (read.status_code, read.get_json()["code"]) == (404, "reservation-not-found")
    # A commit must not leave a row behind the way a release does.
    assert inventory_client.post("/reservations/nobody/commit").status_code == 404
