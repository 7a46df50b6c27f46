"""The journal on the stack: every event about an order, from each producer, lands in the
`journal` stream and GET /orders/{id}/journal lists it, oldest first, once each."""

from __future__ import annotations

import requests

from e2e_tests.stack import URLS, get_json, new_sku, order, order_body, post_order
from testsupport.polling import wait_until

EVENTUAL = 60  # seconds: dispatch after 2 s, two hops of events, then the index (~1 s)


def journal(order_id: str) -> list[dict]:
    return get_json(f"{URLS.order}/orders/{order_id}/journal")["events"]


def test_a_shipped_orders_journal_lists_its_confirmation_then_its_dispatch_with_their_producers():
    placed = post_order(order_body(sku=new_sku(available=5))).json()
    wait_until(lambda: order(placed["id"])["status"] == "SHIPPED", timeout=EVENTUAL, what="order SHIPPED")

    events = wait_until(lambda: len(journal(placed["id"])) == 2 and journal(placed["id"]), timeout=EVENTUAL)

    assert [(e["type"], e["producer"]) for e in events] == [
        ("order.confirmed", "order_service"),
        ("shipment.dispatched", "warehouse_service"),
    ]
    assert events[0]["time"] <= events[1]["time"] and len({e["event_id"] for e in events}) == 2
    # The SHIPPED transition names the event that made it: the journal's dispatch.
    timeline = get_json(f"{URLS.order}/orders/{placed['id']}/events")["transitions"]
    assert (timeline[-1]["to"], timeline[-1]["cause"]) == ("SHIPPED", f"event {events[1]['event_id']}")


def test_an_unknown_order_has_no_journal():
    response = requests.get(f"{URLS.order}/orders/no-such-order/journal", timeout=10)

    assert (response.status_code, response.json()["code"]) == (404, "order-not-found")
