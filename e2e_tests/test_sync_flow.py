"""ORDER_FLOW=sync, the benchmark's all-synchronous baseline, against the real stack: the
order service hands its events to the warehouse and notification APIs inline, so by the
time POST /orders answers, the shipment row and the sent email exist, and none of its events
went through the outbox (its steps and its emails' `notification.sent` do, as in hybrid)."""

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
    """The order's events in the order outbox, but its steps (`order.step`, for live followers)."""
    sql = (
        "SELECT count(*) AS n FROM outbox WHERE envelope -> 'data' ->> 'order_id' = :order_id "
        "AND event_type <> 'order.step'"
    )
    return rows("order_service", sql, order_id=order_id)[0]["n"]


def emails_announced(order_id: str) -> list[str]:
    """The kinds of the order's `notification.sent` events in the notification outbox."""
    sql = "SELECT envelope -> 'data' ->> 'kind' AS kind FROM outbox WHERE envelope ->> 'subject' = :order_id"
    return [row["kind"] for row in rows("notification_service", sql, order_id=order_id)]


def test_sync_flow_ships_and_mails_within_the_request(sync_flow):
    response = post_order(order_body(sku=new_sku(available=3)))

    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    # No polling: the request waited for both services.
    assert [s["status"] for s in shipments(order_id)] == ["PENDING"]
    assert [(n["kind"], n["status"]) for n in notifications(order_id)] == [("order_confirmed", "SENT")]
    assert outbox_rows(order_id) == 0
    assert emails_announced(order_id) == ["order_confirmed"]  # sent inline, announced as the worker's are


def test_sync_flow_tells_a_rejected_customer_and_ships_nothing(sync_flow):
    response = post_order(order_body(sku=new_sku(available=0)))

    assert response.status_code == 201 and response.json()["status"] == "REJECTED", response.text
    order_id = response.json()["id"]
    assert shipments(order_id) == []
    assert [(n["kind"], n["status"]) for n in notifications(order_id)] == [("order_rejected", "SENT")]
    assert outbox_rows(order_id) == 0
