"""The order service's catalog copy (event-carried state transfer), end to end: the inventory
publishes each change, the copy follows, orders read it, and it keeps answering with the
inventory stopped. Invariant checked across services: the copy equals the inventory.
"""

from __future__ import annotations

import time

import requests

from e2e_tests.stack import (
    TIMEOUT,
    URLS,
    admin_headers,
    catalog_command,
    containers,
    get_json,
    is_healthy,
    new_sku,
    order,
    order_body,
    post_order,
    product,
)
from testsupport.polling import wait_until

INVENTORY_PROCESSES = ("inventory-api", "inventory-relay")
# A refused connection or an unknown host is not retried within the request: the first order
# after the inventory stops costs one name lookup (1 s at most: compose's dns_opt), not retries.
FAST_FAIL_SECONDS = 4.0


def copy_of(sku: str) -> requests.Response:
    return requests.get(f"{URLS.order}/catalog/{sku}", timeout=TIMEOUT)


def wait_copied(sku: str, *, version: int, timeout: float = 30) -> dict:
    """The copy's product once it holds `version` of it (or a later one)."""

    def copied():
        response = copy_of(sku)
        return response.json() if response.ok and response.json()["version"] >= version else None

    return wait_until(copied, timeout=timeout, what=f"{sku} v{version} in the order service's copy")


def put_product(sku: str, **fields) -> dict:
    response = requests.put(
        f"{URLS.inventory}/products/{sku}", json=fields, headers=admin_headers(), timeout=TIMEOUT
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def remove_product(sku: str) -> None:
    response = requests.delete(f"{URLS.inventory}/products/{sku}", headers=admin_headers(), timeout=TIMEOUT)
    assert response.status_code == 204, response.text


def test_a_price_change_reaches_the_copy_with_a_higher_version():
    sku = new_sku(available=50, price_cents=1500)
    first = wait_copied(sku, version=1)
    assert (first["price_cents"], first["availability"]) == (1500, "in_stock")
    changed = put_product(sku, name=f"Renamed {sku}", price_cents=1750, available=50)
    assert changed["version"] == 2
    copy = wait_copied(sku, version=2)
    assert (copy["name"], copy["price_cents"]) == (f"Renamed {sku}", 1750)
    assert any(item["sku"] == sku for item in get_json(f"{URLS.order}/catalog"))


def test_selling_into_low_stock_is_announced_but_a_sale_within_a_class_is_not():
    sku = new_sku(available=12)
    wait_copied(sku, version=1)
    assert post_order(order_body(sku=sku, quantity=1)).json()["status"] == "CONFIRMED"  # 11 left: in stock
    assert post_order(order_body(sku=sku, quantity=2)).json()["status"] == "CONFIRMED"  # 9 left: low
    copy = wait_copied(sku, version=2)
    assert copy["availability"] == "low"
    assert product(sku)["version"] == 2  # the first sale moved no class: no event, no version


def test_a_removed_sku_is_refused_at_once_without_an_order():
    sku = new_sku(available=5)
    wait_copied(sku, version=1)
    remove_product(sku)
    wait_until(lambda: copy_of(sku).status_code == 404, timeout=30, what=f"{sku} removed from the copy")
    answer = post_order(order_body(sku=sku))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "product-removed"
    assert answer.json()["sku"] == sku
    assert requests.get(f"{URLS.inventory}/products/{sku}", timeout=TIMEOUT).status_code == 404


def test_a_price_that_changed_under_the_shopper_rejects_the_order_and_releases_the_stock():
    sku = new_sku(available=10, price_cents=1000)
    seen = wait_copied(sku, version=1)["price_cents"]
    put_product(sku, name=f"Test item {sku}", price_cents=1200, available=10)  # races the order
    body = order_body(sku=sku, quantity=2)
    body["items"][0]["unit_price_cents"] = seen
    placed = post_order(body)
    assert placed.status_code == 201, placed.text
    assert (placed.json()["status"], placed.json()["failure_reason"]) == ("REJECTED", "price_changed")
    wait_until(lambda: product(sku)["reserved"] == 0, timeout=30, what="the reservation released")
    assert (product(sku)["available"], product(sku)["sold"]) == (10, 0)
    body = order_body(sku=sku, quantity=2)
    body["items"][0]["unit_price_cents"] = 1200  # the price the shopper now sees
    confirmed = post_order(body).json()
    assert confirmed["status"] == "CONFIRMED"
    assert order(confirmed["id"])["total_cents"] == 2400


def _set_inventory(running: bool) -> None:
    for service in INVENTORY_PROCESSES:
        for container in containers(service):
            container.start() if running else container.stop(timeout=20)


def test_with_the_inventory_stopped_the_copy_answers_and_orders_fail_fast():
    on_sale, removed = new_sku(available=5), new_sku(available=5)
    wait_copied(on_sale, version=1)
    remove_product(removed)
    wait_until(lambda: copy_of(removed).status_code == 404, timeout=30, what="removal copied")
    _set_inventory(running=False)
    try:
        assert copy_of(on_sale).status_code == 200
        assert any(item["sku"] == on_sale for item in get_json(f"{URLS.order}/catalog"))
        assert post_order(order_body(sku=removed)).json()["code"] == "product-removed"
        started = time.monotonic()
        first = post_order(order_body(sku=on_sale))
        took = time.monotonic() - started
        print(f"\nfirst order with the inventory stopped: HTTP {first.status_code} in {took:.2f} s")
        assert first.status_code == 503, first.text
        assert first.headers.get("Retry-After")
        assert first.json()["code"] == "inventory-unavailable"
        assert took < FAST_FAIL_SECONDS
    finally:
        _set_inventory(running=True)
    for service in INVENTORY_PROCESSES:
        wait_until(lambda service=service: is_healthy(service), timeout=120, what=f"{service} healthy")
    wait_until(
        lambda: post_order(order_body(sku=on_sale)).json()["status"] == "CONFIRMED",
        timeout=60,
        interval=1,
        what="orders confirm again once the inventory is back (its breaker closes)",
    )


def test_a_rebuilt_copy_equals_the_inventory_and_reconcile_finds_no_difference():
    sku = new_sku(available=5, price_cents=999)
    put_product(sku, name=f"Test item {sku}", price_cents=1099, available=5)
    wait_copied(sku, version=2)
    rebuilt = catalog_command("rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    wait_until(lambda: copy_of(sku).ok and copy_of(sku).json()["version"] == 2, timeout=120, what="replayed")

    def same_as_inventory() -> bool:
        inventory = {p["sku"]: p for p in get_json(f"{URLS.inventory}/products")}
        copy = {p["sku"]: p for p in get_json(f"{URLS.order}/catalog")}
        fields = ("name", "price_cents", "availability", "version")
        return inventory.keys() == copy.keys() and all(
            tuple(inventory[s][f] for f in fields) == tuple(copy[s][f] for f in fields) for s in inventory
        )

    wait_until(same_as_inventory, timeout=120, what="the rebuilt copy equal to the inventory")
    reconciled = catalog_command("reconcile")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
