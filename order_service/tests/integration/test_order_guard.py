"""Who may call what (messaging.guard): the list of every order (every customer's email) is the
operator's; placing, reading and cancelling one order stay open."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from order_service.api import create_app
from order_service.config import Settings
from order_service.tests.integration.support import make_deps, order_body
from testsupport.callers import TEST_CALLERS, guard_answers

REFUSED = {"nobody": (401, "unauthenticated"), "unknown": (401, "unauthenticated")}


def anyone(engine):
    """A client that presents nothing of its own."""
    settings = Settings(database_url="unused", service_token="unused", callers=TEST_CALLERS)
    return create_app(settings, deps=make_deps(engine)).test_client()


def test_the_list_of_every_order_answers_the_admin_only(engine):
    client = anyone(engine)
    client.post("/orders", json=order_body(), headers={"Idempotency-Key": "k-guard"})

    answers = guard_answers(client, "GET", "/orders?customer_id=c-1")

    assert answers == {**REFUSED, ORDER_SERVICE: (403, "forbidden"), ADMIN: (200, None)}


def test_one_order_its_timeline_and_its_cancel_stay_open(engine):
    client = anyone(engine)

    placed = client.post("/orders", json=order_body(), headers={"Idempotency-Key": "k-open"})
    order_id = placed.json["id"]

    assert placed.status_code == 201
    for path in (f"/orders/{order_id}", f"/orders/{order_id}/events", "/healthz", "/readyz"):
        assert client.get(path).status_code == 200, path
    assert client.post(f"/orders/{order_id}/cancel").json["status"] == "CANCELLED"
