"""Each status the inventory's document promises, reached on purpose against a real database
and checked against the document (the fuzz test reaches few of them: it cannot guess a SKU)."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import bearer
from testsupport.openapi_fuzz import conforms

ORDER = bearer(ORDER_SERVICE)  # the reservations' caller


def reserve(order_id: str, items: list[dict], key: str | None = None) -> dict:
    return {
        "headers": {**ORDER, "Idempotency-Key": key or f"reserve:{order_id}"},
        "body": {"order_id": order_id, "items": items},
    }


def status(app, method: str, path: str, **request) -> int:
    return conforms(app, method, path, **request).status_code


def test_a_reservation_through_every_documented_answer(inventory_app):
    mugs = [{"sku": "SKU-RED-MUG", "quantity": 2}]
    on = {"path_parameters": {"order_id": "o-1"}, "headers": ORDER}
    assert status(inventory_app, "POST", "/reservations", **reserve("o-1", mugs)) == 201
    assert status(inventory_app, "POST", "/reservations", **reserve("o-1", mugs)) == 200
    assert status(inventory_app, "POST", "/reservations", **reserve("o-1", mugs * 2)) == 422  # key reused
    assert status(inventory_app, "POST", "/reservations", **reserve("o-1", mugs, key="o-1")) == 400
    assert status(inventory_app, "GET", "/reservations/{order_id}", **on) == 200
    restock = {**on, "headers": {**ORDER, "Idempotency-Key": "restock:o-1"}}
    assert (
        status(inventory_app, "POST", "/reservations/{order_id}/restock", **restock) == 409
    )  # not committed
    assert status(inventory_app, "POST", "/reservations/{order_id}/commit", **on) == 200
    assert status(inventory_app, "POST", "/reservations/{order_id}/release", **on) == 409  # committed
    assert (
        status(inventory_app, "POST", "/reservations/{order_id}/restock", **{**on, "headers": ORDER}) == 400
    )
    assert status(inventory_app, "POST", "/reservations/{order_id}/restock", **restock) == 200
    assert status(inventory_app, "POST", "/reservations/{order_id}/commit", **on) == 409  # restocked
    assert status(inventory_app, "POST", "/reservations", **reserve("o-1", mugs)) == 409  # restocked


def test_refusals_of_a_reservation(inventory_app):
    gone = {"path_parameters": {"order_id": "o-2"}, "headers": ORDER}
    assert status(inventory_app, "POST", "/reservations/{order_id}/commit", **gone) == 404
    assert status(inventory_app, "POST", "/reservations/{order_id}/release", **gone) == 200  # tombstone
    assert (
        status(
            inventory_app, "POST", "/reservations", **reserve("o-2", [{"sku": "SKU-TEAPOT", "quantity": 1}])
        )
        == 409
    )
    assert (
        status(
            inventory_app, "POST", "/reservations", **reserve("o-3", [{"sku": "SKU-TEAPOT", "quantity": 26}])
        )
        == 409
    )
    assert (
        status(inventory_app, "POST", "/reservations", **reserve("o-3", [{"sku": "NOPE", "quantity": 1}]))
        == 422
    )
    assert status(inventory_app, "POST", "/reservations", headers=ORDER, body=["not", "an", "object"]) == 400
    huge = reserve("o-4", [{"sku": "SKU-TEAPOT", "quantity": 1}] * 4000)  # over 64 KiB
    assert status(inventory_app, "POST", "/reservations", **huge) == 413


def test_products_answers(inventory_app):
    spec = {"name": "Green mug", "price_cents": 1300, "available": 5}
    green = {"path_parameters": {"sku": "SKU-GREEN-MUG"}, "headers": bearer(ADMIN)}
    assert status(inventory_app, "PUT", "/products/{sku}", **green, body=spec) == 201
    assert status(inventory_app, "PUT", "/products/{sku}", **green, body=spec) == 200
    assert status(inventory_app, "PUT", "/products/{sku}", **green, body={**spec, "name": " "}) == 422
    assert status(inventory_app, "GET", "/products/{sku}", path_parameters={"sku": "SKU-GREEN-MUG"}) == 200
    assert status(inventory_app, "GET", "/products/{sku}", path_parameters={"sku": "SKU-NONE"}) == 404
    assert status(inventory_app, "GET", "/products") == 200
    assert status(inventory_app, "DELETE", "/products/{sku}", **green) == 204
    assert status(inventory_app, "DELETE", "/products/{sku}", **green) == 204  # already removed
    assert status(inventory_app, "GET", "/products/{sku}", path_parameters={"sku": "SKU-GREEN-MUG"}) == 404
    none = {"path_parameters": {"sku": "SKU-NONE"}, "headers": bearer(ADMIN)}
    assert status(inventory_app, "DELETE", "/products/{sku}", **none) == 404
    too_long = {"path_parameters": {"sku": "S" * 65}, "headers": bearer(ADMIN)}
    assert status(inventory_app, "DELETE", "/products/{sku}", **too_long) == 422
    assert status(inventory_app, "PUT", "/products/{sku}", **green, body=spec) == 200  # back on sale
    assert status(inventory_app, "GET", "/readyz") == 200
