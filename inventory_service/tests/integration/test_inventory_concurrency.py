"""Many buyers at once against a real PostgreSQL: no oversell, no double reserve, one winner."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from inventory_service.tests.integration.stock import put_product, reserve, stock, total_units


def run_at_once(app: Flask, *, calls: list[Callable[[FlaskClient], Any]]) -> list[Any]:
    """Each call gets its own test client; a barrier releases them together to maximise overlap."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[FlaskClient], Any]) -> Any:
        client = app.test_client()
        barrier.wait(timeout=30)
        return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def status_and_code(response) -> tuple[int, str | None]:
    return response.status_code, response.get_json().get("code")


def test_thirty_buyers_for_ten_units_sell_exactly_ten(inventory_app, inventory_client):
    put_product(inventory_client, sku="SKU-HOT", available=10)

    def buy(order_id: str) -> Callable[[FlaskClient], Any]:
        return lambda client: status_and_code(
            reserve(client, order_id=order_id, items=[{"sku": "SKU-HOT", "quantity": 1}])
        )

    outcomes = Counter(run_at_once(inventory_app, calls=[buy(f"buyer-{n}") for n in range(30)]))

    assert outcomes == {(201, None): 10, (409, "out-of-stock"): 20}
    assert stock(inventory_client, sku="SKU-HOT") == {"available": 0, "reserved": 10, "sold": 0}


def test_concurrent_retries_of_one_order_reserve_once(inventory_app, inventory_client):
    before = stock(inventory_client, sku="SKU-RED-MUG")

    def same_order(client: FlaskClient) -> tuple[int, str | None]:
        return status_and_code(
            reserve(client, order_id="order-x", items=[{"sku": "SKU-RED-MUG", "quantity": 3}])
        )

    outcomes = Counter(run_at_once(inventory_app, calls=[same_order] * 10))

    assert outcomes == {(201, None): 1, (200, None): 9}
    after = stock(inventory_client, sku="SKU-RED-MUG")
    assert after["reserved"] == 3
    assert total_units(after) == total_units(before)


def test_concurrent_commit_and_release_have_one_winner(inventory_app, inventory_client):
    orders = [f"race-{n}" for n in range(5)]
    for order_id in orders:
        reserve(inventory_client, order_id=order_id, items=[{"sku": "SKU-TEAPOT", "quantity": 1}])

    def act(order_id: str, action: str) -> Callable[[FlaskClient], Any]:
        return lambda client: (order_id, client.post(f"/reservations/{order_id}/{action}").status_code)

    calls = [act(order_id, action) for order_id in orders for action in ("commit", "release")]
    results = run_at_once(inventory_app, calls=calls)

    for order_id in orders:
        # One of commit/release wins with 200; the loser sees the winner's state: 409.
        assert sorted(code for order, code in results if order == order_id) == [200, 409]
    counts = stock(inventory_client, sku="SKU-TEAPOT")
    statuses = Counter(inventory_client.get(f"/reservations/{o}").get_json()["status"] for o in orders)
    assert counts["reserved"] == 0
    assert counts["sold"] == statuses["COMMITTED"]
    assert counts["available"] == 25 - statuses["COMMITTED"]


def test_multi_line_orders_in_opposite_orders_do_not_deadlock(inventory_app, inventory_client):
    def order(n: int) -> Callable[[FlaskClient], Any]:
        items = [{"sku": "SKU-BLUE-MUG", "quantity": 1}, {"sku": "SKU-TEA-TOWEL", "quantity": 1}]
        items = items if n % 2 else list(reversed(items))  # half of them name the SKUs the other way
        return lambda client: reserve(client, order_id=f"multi-{n}", items=items).status_code

    codes = run_at_once(inventory_app, calls=[order(n) for n in range(20)])

    assert codes == [201] * 20
    assert stock(inventory_client, sku="SKU-BLUE-MUG")["reserved"] == 20
    assert stock(inventory_client, sku="SKU-TEA-TOWEL")["reserved"] == 20
