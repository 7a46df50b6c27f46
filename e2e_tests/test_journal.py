"""The journal on the stack: every event about an order, from each producer, lands in the
`journal` stream and GET /orders/{id}/journal lists it, oldest first, once each."""

from __future__ import annotations

from collections import Counter

import requests

from e2e_tests.stack import URLS, get_json, new_sku, order, order_body, post_order
from testsupport.polling import wait_until

EVENTUAL = 60  # seconds: dispatch after 2 s, two hops of events, then the index (~1 s)


def journal(order_id: str) -> list[dict]:
    return get_json(f"{URLS.order}/orders/{order_id}/journal")["events"]


# A shipped order's: its steps (placed, reserved, confirmed, shipped, and each email sent), its
# confirmation, its dispatch and its two emails sent.
SHIPPED_ORDERS_EVENTS = Counter(
    {"order.step": 6, "order.confirmed": 1, "shipment.dispatched": 1, "notification.sent": 2}
)


def every_event(order_id: str) -> list[dict] | None:
    events = journal(order_id)
    return events if Counter(e["type"] for e in events) == SHIPPED_ORDERS_EVENTS else None


def test_a_shipped_orders_journal_lists_its_confirmation_then_its_dispatch_with_their_producers():
    placed = post_order(order_body(sku=new_sku(available=5))).json()
    wait_until(lambda: order(placed["id"])["status"] == "SHIPPED", timeout=EVENTUAL, what="order SHIPPED")

    events = wait_until(
        lambda: every_event(placed["id"]), timeout=EVENTUAL, what="every event of a shipped order"
    )

    assert len({e["event_id"] for e in events}) == len(events)  # once each
    assert {(e["type"], e["producer"]) for e in events} == {
        ("order.step", "order_service"),
        ("order.confirmed", "order_service"),
        ("shipment.dispatched", "warehouse_service"),
        ("notification.sent", "notification_service"),
    }
    confirmed, dispatched = (
        next(e for e in events if e["type"] == t) for t in ("order.confirmed", "shipment.dispatched")
    )
    assert confirmed["time"] <= dispatched["time"]
    assert events.index(confirmed) < events.index(dispatched)  # oldest first
    # The SHIPPED transition names the event that made it: the journal's dispatch.
    timeline = get_json(f"{URLS.order}/orders/{placed['id']}/events")["transitions"]
    assert (timeline[-1]["to"], timeline[-1]["cause"]) == ("SHIPPED", f"event {dispatched['event_id']}")


def test_an_unknown_order_has_no_journal():
    response = requests.get(f"{URLS.order}/orders/no-such-order/journal", timeout=10)

    assert (response.status_code, response.json()["code"]) == (404, "order-not-found")
