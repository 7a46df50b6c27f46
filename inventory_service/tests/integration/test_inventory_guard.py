"""Who may call what (messaging.guard): the reservations are the order service's, the catalog's
writes the operator's; reads of one thing stay open."""

from __future__ import annotations

from inventory_service.tests.integration.stock import put_product, reserve
from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import guard_answers

REFUSED = {"nobody": (401, "unauthenticated"), "unknown": (401, "unauthenticated")}
ITEMS = [{"sku": "SKU-GUARD", "quantity": 1}]


def test_each_reservation_call_answers_the_order_service_only(inventory_app, inventory_client):
    put_product(inventory_client, sku="SKU-GUARD", available=10)
    anyone = inventory_app.test_client()  # presents nothing of its own
    reserve(inventory_client, order_id="to-commit", items=ITEMS)
    reserve(inventory_client, order_id="to-release", items=ITEMS)
    reserve(inventory_client, order_id="to-restock", items=ITEMS)
    inventory_client.post("/reservations/to-restock/commit")

    answers = {
        "reserve": guard_answers(
            anyone,
            "POST",
            "/reservations",
            json={"order_id": "new", "items": ITEMS},
            headers={"Idempotency-Key": "reserve:new"},
        ),
        "commit": guard_answers(anyone, "POST", "/reservations/to-commit/commit"),
        "release": guard_answers(anyone, "POST", "/reservations/to-release/release"),
        "restock": guard_answers(
            anyone,
            "POST",
            "/reservations/to-restock/restock",
            headers={"Idempotency-Key": "restock:to-restock"},
        ),
    }

    expected = {**REFUSED, ADMIN: (403, "forbidden")}
    assert answers == {
        "reserve": {**expected, ORDER_SERVICE: (201, None)},
        "commit": {**expected, ORDER_SERVICE: (200, None)},
        "release": {**expected, ORDER_SERVICE: (200, None)},
        "restock": {**expected, ORDER_SERVICE: (200, None)},
    }
    statuses = {
        o: anyone.get(f"/reservations/{o}").json["status"] for o in ("new", "to-commit", "to-release")
    }
    assert statuses == {"new": "RESERVED", "to-commit": "COMMITTED", "to-release": "RELEASED"}


def test_putting_a_product_answers_the_admin_only(inventory_app):
    anyone = inventory_app.test_client()

    answers = guard_answers(
        anyone, "PUT", "/products/SKU-ADMIN", json={"name": "Admin mug", "price_cents": 900, "available": 4}
    )

    assert answers == {**REFUSED, ORDER_SERVICE: (403, "forbidden"), ADMIN: (201, None)}
    assert anyone.get("/products/SKU-ADMIN").json["available"] == 4  # written once, by the admin


def test_reads_of_one_thing_and_the_probes_stay_open(inventory_app, inventory_client):
    put_product(inventory_client, sku="SKU-OPEN", available=2)
    reserve(inventory_client, order_id="open-order", items=[{"sku": "SKU-OPEN", "quantity": 1}])
    anyone = inventory_app.test_client()

    for path in ("/products", "/products/SKU-OPEN", "/reservations/open-order", "/healthz", "/readyz"):
        assert anyone.get(path).status_code == 200, path
