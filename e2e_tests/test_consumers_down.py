"""Warehouse and notification being down never fails or slows an order; nothing is lost."""

from __future__ import annotations

from e2e_tests.stack import (
    containers,
    emails_to,
    is_healthy,
    new_sku,
    notifications,
    order,
    order_body,
    post_order,
    shipments,
)
from testsupport.polling import wait_until

CONSUMERS = ("warehouse-worker", "notification-worker")
ORDERS = 5


def _set_consumers(running: bool) -> None:
    for service in CONSUMERS:
        for container in containers(service):
            container.start() if running else container.stop(timeout=20)


def test_orders_confirm_while_consumers_are_down_and_are_shipped_and_notified_once_after():
    sku = new_sku(available=ORDERS * 2)
    _set_consumers(running=False)
    try:
        bodies = [order_body(sku=sku) for _ in range(ORDERS)]
        responses = [post_order(body) for body in bodies]
        assert [r.status_code for r in responses] == [201] * ORDERS
        placed = [r.json() for r in responses]
        assert {p["status"] for p in placed} == {"CONFIRMED"}
        assert all(shipments(p["id"]) == [] for p in placed)  # really nothing consumed meanwhile
    finally:
        _set_consumers(running=True)
    for service in CONSUMERS:
        wait_until(lambda service=service: is_healthy(service), timeout=120, what=f"{service} healthy")

    for p in placed:
        wait_until(lambda p=p: order(p["id"])["status"] == "SHIPPED", timeout=90, what=f"{p['id']} SHIPPED")
    for p, body in zip(placed, bodies, strict=True):
        wait_until(lambda p=p: len(notifications(p["id"])) == 2, timeout=60, what="2 notifications")
        assert len(shipments(p["id"])) == 1
        assert sorted(n["kind"] for n in notifications(p["id"])) == ["order_confirmed", "order_shipped"]
        wait_until(lambda body=body: len(emails_to(body["email"])) >= 2, timeout=60, what="2 emails")
        assert len(emails_to(body["email"])) == 2
