"""ORDER_FLOW=sync, the benchmark's all-synchronous baseline, against the real stack: the
order service hands its events to the warehouse and notification APIs inline, so by the
time POST /orders answers, the shipment row and the sent email exist, and nothing went
through the outbox."""

from __future__ import annotations

import pytest

from bench.measure import rows
from e2e_tests.stack import new_sku, notifications, order_body, post_order, set_flow, shipments


@pytest.fixture(scope="module")
def sync_flow():
    set_flow("sync")
    try:
        yield
    finally:
        set_flow("hybrid")


def outbox_rows(order_id: str) -> int:
    sql = "SELECT count(*) AS n FROM outbox WHERE envelope -> 'data' ->> 'order_id' = :order_id"
    return rows("order_service", sql, order_id=order_id)[0]["n"]


def test_sync_flow_ships_and_mails_within_the_request(sync_flow):
    response = post_order(order_body(sku=new_sku(available=3)))

    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    # No polling: the request waited for both services.
    assert [s["status"] for s in shipments(order_id)] == ["PENDING"]
    assert [(n["kind"], n["status"]) for n in notifications(order_id)] == [("order_confirmed", "SENT")]
    assert outbox_rows(order_id) == 0


def test_sync_flow_tells_a_rejected_customer_and_ships_nothing(sync_flow):
    response = post_order(order_body(sku=new_sku(available=0)))

    assert response.status_code == 201 and response.json()["status"] == "REJECTED", response.text
    order_id = response.json()["id"]
    assert shipments(order_id) == []
    assert [(n["kind"], n["status"]) for n in notifications(order_id)] == [("order_rejected", "SENT")]
    assert outbox_rows(order_id) == 0
