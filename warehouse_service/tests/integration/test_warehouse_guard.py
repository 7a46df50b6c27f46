"""Who may call what (messaging.guard): the cancel call and POST /events are the order service's,
the list of every shipment the operator's; a shipment and an order's shipments stay open."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import TEST_CALLERS, bearer, guard_answers
from testsupport.events import example_envelope
from warehouse_service.api import create_app
from warehouse_service.config import Settings

REFUSED = {"nobody": (401, "unauthenticated"), "unknown": (401, "unauthenticated")}


def anyone(engine):
    """A client that presents nothing of its own."""
    return create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine).test_client()


def test_the_cancel_call_and_events_answer_the_order_service_only(engine):
    client = anyone(engine)
    confirmed = example_envelope("order.confirmed")

    events = guard_answers(client, "POST", "/events", json=confirmed.to_dict())
    cancel = guard_answers(
        client, "POST", "/shipments/o-guard/cancel", headers={"Idempotency-Key": "cancel:o-guard"}
    )

    assert events == {**REFUSED, ADMIN: (403, "forbidden"), ORDER_SERVICE: (200, None)}
    assert cancel == {**REFUSED, ADMIN: (403, "forbidden"), ORDER_SERVICE: (200, None)}
    [shipment] = client.get(f"/shipments?order_id={confirmed.data['order_id']}").json
    assert shipment["status"] == "PENDING"  # the one event let in made its shipment
    assert [s["status"] for s in client.get("/shipments?order_id=o-guard").json] == ["CANCELLED"]


def test_the_list_of_every_shipment_answers_the_admin_only(engine):
    assert guard_answers(anyone(engine), "GET", "/shipments") == {
        **REFUSED,
        ORDER_SERVICE: (403, "forbidden"),
        ADMIN: (200, None),
    }


def test_reads_of_one_thing_and_the_probes_stay_open(engine):
    client = anyone(engine)
    client.post(
        "/shipments/o-open/cancel", headers={"Idempotency-Key": "cancel:o-open", **bearer(ORDER_SERVICE)}
    )
    [shipment] = client.get("/shipments?order_id=o-open").json

    for path in (f"/shipments/{shipment['id']}", "/shipments?order_id=o-open", "/healthz", "/readyz"):
        assert client.get(path).status_code == 200, path
