"""Many buyers at once against a real PostgreSQL: no oversell, no double reserve, one winner."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask.testing import FlaskClient

from inventory_service import handlers
from inventory_service.tests.integration.stock import (
    assert_books_balance,
    catalog_events,
    put_product,
    reserve,
    run_at_once,
    served,
    status_and_code,
    stock,
    total_units,
)
from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import bearer


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


def test_fifty_buyers_over_http_for_ten_units_get_exactly_ten(
    inventory_app, inventory_client, inventory_engine
):
    put_product(inventory_client, sku="SKU-LAST-TEN", available=10)
    barrier = threading.Barrier(50)

    def buy(n: int) -> tuple[int, str | None]:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            response = session.post(
                f"{base_url}/reservations",
                json={"order_id": f"buyer-{n}", "items": [{"sku": "SKU-LAST-TEN", "quantity": 1}]},
                headers={"Idempotency-Key": f"reserve:buyer-{n}", **bearer(ORDER_SERVICE)},
                timeout=(2, 30),
            )
        return response.status_code, response.json().get("code")

    with served(inventory_app) as base_url, ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = Counter(pool.map(buy, range(50)))

    assert outcomes == {(201, None): 10, (409, "out-of-stock"): 40}
    assert stock(inventory_client, sku="SKU-LAST-TEN") == {"available": 0, "reserved": 10, "sold": 0}
    assert_books_balance(inventory_client, inventory_engine, sku="SKU-LAST-TEN", total=10)


def test_every_writer_at_once_on_the_same_skus_never_deadlocks(
    inventory_app, inventory_client, inventory_engine
):
    """Reserves naming the SKUs in opposite orders, commits, releases, restocks and expirers
    all lock the same product rows: a lock-order mistake shows up as a deadlock (503 here)."""
    for sku in ("SKU-AAA", "SKU-ZZZ"):
        put_product(inventory_client, sku=sku, available=1000)
    both = [{"sku": "SKU-AAA", "quantity": 1}, {"sku": "SKU-ZZZ", "quantity": 2}]
    for n in range(10):
        reserve(inventory_client, order_id=f"done-{n}", items=both)
        inventory_client.post(f"/reservations/done-{n}/commit")
        reserve(inventory_client, order_id=f"held-{n}", items=both)
    later = datetime.now(UTC) + timedelta(hours=1)

    def new_order(n: int) -> Callable[[FlaskClient], Any]:
        items = both if n % 2 else list(reversed(both))
        return lambda client: status_and_code(reserve(client, order_id=f"new-{n}", items=items))

    def post(path: str, key: str | None = None) -> Callable[[FlaskClient], Any]:
        headers = {"Idempotency-Key": key} if key else {}
        return lambda client: status_and_code(client.post(path, headers=headers))

    def expire(_client: FlaskClient) -> tuple[int, None]:
        handlers.expire_reservations(engine=inventory_engine, now=later, limit=2)
        return 200, None

    calls = (
        [new_order(n) for n in range(20)]
        + [post(f"/reservations/done-{n}/restock", f"restock:done-{n}") for n in range(10)]
        + [post(f"/reservations/held-{n}/{'commit' if n % 2 else 'release'}") for n in range(10)]
        + [expire] * 6
    )
    outcomes = Counter(status for status, _ in run_at_once(inventory_app, calls=calls))

    # 409: a commit or release that lost to an expirer. Never a 5xx (deadlock, or anything else).
    assert set(outcomes) <= {200, 201, 409}, outcomes
    assert outcomes[201] == 20
    for sku, total in (("SKU-AAA", 1000), ("SKU-ZZZ", 1000)):
        assert_books_balance(inventory_client, inventory_engine, sku=sku, total=total)


def test_concurrent_puts_and_sales_announce_each_version_once_and_in_order(
    inventory_app, inventory_client, inventory_engine
):
    """Versions are what a consumer keeps the highest of: per product they must go 1, 2, 3 ...
    in the order the changes were made, none twice, and the last must be the product as it is."""
    put_product(inventory_client, sku="SKU-RACE", available=20, price_cents=100)

    def put(n: int) -> Callable[[FlaskClient], Any]:
        # Two states in turn: whether a PUT is a change depends on which came before it, so a
        # PUT that judged on a stale read would leave the product unlike its last event.
        body = {"name": "Race", "price_cents": 100 if n % 2 else 200, "available": 20 if n % 2 else 5}
        return lambda client: client.put("/products/SKU-RACE", json=body, headers=bearer(ADMIN)).status_code

    def buy(order_id: str) -> Callable[[FlaskClient], Any]:
        return lambda client: (
            reserve(client, order_id=order_id, items=[{"sku": "SKU-RACE", "quantity": 1}]).status_code
        )

    for attempt in range(3):  # a race is a matter of luck: three chances to lose it
        calls = [put(n) for n in range(24)] + [buy(f"race-{attempt}-{n}") for n in range(8)]
        outcomes = Counter(run_at_once(inventory_app, calls=calls))

        assert outcomes[200] == 24 and outcomes[201] >= 1, outcomes
        events = catalog_events(inventory_engine, sku="SKU-RACE")
        numbers = [event["data"]["version"] for event in events]
        assert numbers == list(range(1, len(numbers) + 1))  # written in version order, each once
        product = inventory_client.get("/products/SKU-RACE").get_json()
        last = events[-1]["data"]
        assert (last["version"], last["price_cents"], last["availability"]) == (
            product["version"],
            product["price_cents"],
            product["availability"],
        )


def test_thirty_buyers_announce_each_change_of_class_once(inventory_app, inventory_client, inventory_engine):
    put_product(inventory_client, sku="SKU-CROWD", available=12)

    def buy(n: int) -> Callable[[FlaskClient], Any]:
        return lambda client: (
            reserve(client, order_id=f"crowd-{n}", items=[{"sku": "SKU-CROWD", "quantity": 1}]).status_code
        )

    outcomes = Counter(run_at_once(inventory_app, calls=[buy(n) for n in range(30)]))

    assert outcomes == {201: 12, 409: 18}
    assert [
        (event["type"], event["data"]["version"], event["data"]["availability"])
        for event in catalog_events(inventory_engine, sku="SKU-CROWD")
    ] == [
        ("product.created", 1, "in_stock"),
        ("product.changed", 2, "low"),  # the second sale: 10 left
        ("product.changed", 3, "out_of_stock"),  # the twelfth
    ]
