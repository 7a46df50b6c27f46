"""Statuses of the warehouse's document reached on purpose against a real database and checked
against the document (the fuzz test cannot guess an order's cancel key)."""

from __future__ import annotations

from messaging.credentials import ORDER_SERVICE
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.events import example_envelope
from testsupport.openapi_fuzz import conforms
from warehouse_service.api import create_app
from warehouse_service.config import Settings


def test_cancel_and_events_answer_as_documented(engine):
    app = create_app(
        Settings(database_url="unused", dispatch_delay_seconds=60, callers=TEST_CALLERS), engine=engine
    )
    order = bearer(ORDER_SERVICE)  # the cancel's and the events' caller
    cancel = {"path_parameters": {"order_id": "o-1"}, "headers": {**order, "Idempotency-Key": "cancel:o-1"}}

    assert conforms(app, "POST", "/shipments/{order_id}/cancel", **cancel).status_code == 200
    assert conforms(app, "POST", "/shipments/{order_id}/cancel", **cancel).status_code == 200
    wrong_key = {**cancel, "headers": {**order, "Idempotency-Key": "o-1"}}
    assert conforms(app, "POST", "/shipments/{order_id}/cancel", **wrong_key).status_code == 400
    shipment = conforms(app, "GET", "/shipments", query={"order_id": "o-1"}).json()[0]
    assert conforms(app, "GET", "/shipments/{shipment_id}", path_parameters={"shipment_id": shipment["id"]})
    assert (
        conforms(app, "GET", "/shipments/{shipment_id}", path_parameters={"shipment_id": "x"}).status_code
        == 404
    )
    event = example_envelope("order.confirmed").to_dict()
    assert conforms(app, "POST", "/events", headers=order, body=event).status_code == 200
    assert conforms(app, "POST", "/events", headers=order, body={"not": "an event"}).status_code == 422
