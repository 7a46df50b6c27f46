"""Each status the order's document promises, reached on purpose against a real database
(inventory, payment and warehouse are the fakes, each made to answer as the status needs) and
checked against the document (the fuzz test cannot guess an order id, nor make a dependency fail)."""

from __future__ import annotations

from messaging.credentials import ADMIN
from order_service import db
from order_service.api import create_app
from order_service.config import Settings
from order_service.domain import OrderStatus
from order_service.tests.integration.fakes import FakeInventory, FakePayment, FakeWarehouse
from order_service.tests.integration.support import copy_product, make_deps, order_body
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.openapi_fuzz import conforms


def app_with(engine, **fakes):
    app = create_app(
        Settings(database_url="unused", service_token="unused", callers=TEST_CALLERS),
        deps=make_deps(engine, **fakes),
    )
    app.testing = True
    return app


def place(key: str, **changes) -> dict:
    return {"headers": {"Idempotency-Key": key}, "body": order_body(**changes)}


def on(order_id: str) -> dict:
    return {"path_parameters": {"order_id": order_id}}


def status(app, method: str, path: str, **request) -> int:
    return conforms(app, method, path, **request).status_code


def placed(app, key: str, expected: int, *, unavailable: bool = False, **changes) -> dict:
    response = conforms(app, "POST", "/orders", unavailable=unavailable, **place(key, **changes))
    assert response.status_code == expected, response.text
    return response.json()


def test_placing_an_order_through_every_documented_answer(engine):
    app = app_with(engine)
    confirmed = placed(app, "k-1", 201)
    assert confirmed["status"] == "CONFIRMED"
    assert placed(app, "k-1", 201) == confirmed  # the first answer, replayed
    assert status(app, "POST", "/orders", **place("k-1", customer_id="c-2")) == 422  # key reused
    assert status(app, "POST", "/orders", **place("k-2", items=[])) == 422
    assert status(app, "POST", "/orders", body=order_body()) == 400  # no key
    assert status(app, "POST", "/orders", **place("k" * 201)) == 400
    assert status(app, "POST", "/orders", headers={"Idempotency-Key": "k-3"}, body=["an", "array"]) == 400
    assert status(app, "POST", "/orders", **place("k-4", customer_id="x" * 70_000)) == 413

    rejected = placed(app_with(engine, inventory=FakeInventory(refuse="out-of-stock")), "k-5", 201)
    declined = placed(app_with(engine, payment=FakePayment(decline=True)), "k-6", 201)
    assert (rejected["status"], declined["status"]) == ("REJECTED", "FAILED")
    unknown = app_with(engine, payment=FakePayment(down=True, maybe_applied=True))
    assert placed(unknown, "k-7", 202)["status"] == "PAYMENT_PENDING"
    assert placed(unknown, "k-7", 202)["status"] == "PAYMENT_PENDING"  # a 202 is not stored

    no_stock = placed(app_with(engine, inventory=FakeInventory(down=True)), "k-8", 503, unavailable=True)
    no_money = placed(app_with(engine, payment=FakePayment(down=True)), "k-9", 503, unavailable=True)
    assert (no_stock["code"], no_money["code"]) == ("inventory-unavailable", "payment-unavailable")
    replayed = conforms(app, "POST", "/orders", unavailable=True, **place("k-9"))
    assert (replayed.status_code, replayed.headers["retry-after"]) == (503, ["5"])


def test_the_catalog_and_what_it_refuses_through_every_documented_answer(engine):
    copy_product(engine, "MUG", price_cents=700)
    copy_product(engine, "GONE", removed=True)
    app = app_with(engine)
    assert status(app, "GET", "/catalog") == 200
    assert status(app, "GET", "/catalog/{sku}", path_parameters={"sku": "MUG"}) == 200
    assert status(app, "GET", "/catalog/{sku}", path_parameters={"sku": "GONE"}) == 404
    assert status(app, "GET", "/catalog/{sku}", path_parameters={"sku": "not a sku"}) == 422

    removed = conforms(app, "POST", "/orders", **place("k-1", items=[{"sku": "GONE", "quantity": 1}]))
    assert (removed.status_code, removed.json()["code"]) == (422, "product-removed")
    seen = [{"sku": "MUG", "quantity": 1, "unit_price_cents": 650}]  # the fake's price is 700
    assert placed(app, "k-2", 201, items=seen)["failure_reason"] == "price_changed"
    seen[0]["unit_price_cents"] = 700
    assert placed(app, "k-3", 201, items=seen)["status"] == "CONFIRMED"


def test_reading_and_listing_orders(engine):
    app = app_with(engine)
    order_id = placed(app, "k-1", 201)["id"]
    placed(app, "k-2", 201)
    assert status(app, "GET", "/orders/{order_id}", **on(order_id)) == 200
    assert status(app, "GET", "/orders/{order_id}", **on("nope")) == 404
    assert status(app, "GET", "/orders/{order_id}", **on("a\x00b")) == 422
    assert status(app, "GET", "/orders/{order_id}/events", **on(order_id)) == 200
    assert status(app, "GET", "/orders/{order_id}/events", **on("nope")) == 404
    assert status(app, "GET", "/orders/{order_id}/events", **on("a\x00b")) == 422

    admin = {"headers": bearer(ADMIN)}  # the list is the operator's
    first = conforms(app, "GET", "/orders", query={"limit": 1}, **admin)
    assert first.status_code == 200 and first.json()["next_cursor"] is not None
    cursor = first.json()["next_cursor"]
    query = {"customer_id": "c-1", "status": "CONFIRMED", "limit": 1, "cursor": cursor}
    assert conforms(app, "GET", "/orders", query=query, **admin).json()["next_cursor"] is None
    for bad in ({"status": "LOST"}, {"limit": 201}, {"limit": "٧"}, {"cursor": "²"}):
        assert status(app, "GET", "/orders", query=bad, **admin) == 400, bad
    assert status(app, "GET", "/orders", query={"customer_id": "c\x00"}, **admin) == 422
    assert status(app, "GET", "/orders", query={"limit": 1}) == 401
    assert status(app, "GET", "/readyz") == 200


def test_cancelling_through_every_documented_answer(engine):
    app = app_with(engine)
    order_id = placed(app, "k-1", 201)["id"]
    dispatched = app_with(engine, warehouse=FakeWarehouse(dispatched=True))
    unreachable = app_with(engine, warehouse=FakeWarehouse(down=True))
    assert status(dispatched, "POST", CANCEL, **on(order_id)) == 409  # order-already-shipped
    assert status(unreachable, "POST", CANCEL, unavailable=True, **on(order_id)) == 503
    assert status(app, "POST", CANCEL, **on(order_id)) == 200
    assert status(app, "POST", CANCEL, **on(order_id)) == 200  # idempotent
    assert status(app, "POST", CANCEL, **on("nope")) == 404
    assert status(app, "POST", CANCEL, **on("a\x00b")) == 422

    declined = placed(app_with(engine, payment=FakePayment(decline=True)), "k-2", 201)["id"]
    refused = conforms(app, "POST", CANCEL, **on(declined))
    assert (refused.status_code, refused.json()["order_status"]) == (409, "FAILED")
    shipped = placed(app, "k-3", 201)["id"]
    with engine.begin() as connection:
        db.transition(connection, order_id=shipped, target=OrderStatus.SHIPPED, cause="test", hold_seconds=0)
    assert conforms(app, "POST", CANCEL, **on(shipped)).json()["code"] == "order-already-shipped"


CANCEL = "/orders/{order_id}/cancel"
