"""POST /events (the HTTP binding used by ORDER_FLOW=sync) against a real PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from messaging.credentials import ORDER_SERVICE
from testsupport.callers import TEST_CALLERS, acting_as
from testsupport.events import example_envelope
from warehouse_service import db
from warehouse_service.api import create_app
from warehouse_service.config import Settings


def shipment_rows(engine: sa.Engine, order_id: str) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(sa.select(db.shipments).where(db.shipments.c.order_id == order_id)).all()


def inbox_count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(db.inbox.table)).scalar_one()


def client_for(engine: sa.Engine):
    """The order service, the only caller of POST /events (ORDER_FLOW=sync)."""
    settings = Settings(database_url="unused", dispatch_delay_seconds=60, callers=TEST_CALLERS)
    return acting_as(create_app(settings, engine=engine).test_client(), ORDER_SERVICE)


def test_an_order_confirmed_posted_twice_makes_one_shipment(engine):
    envelope = example_envelope("order.confirmed")
    client = client_for(engine)

    first = client.post("/events", json=envelope.to_dict())
    again = client.post("/events", json=envelope.to_dict())

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json == again.json == {"event_id": envelope.id, "type": "order.confirmed"}
    [shipment] = shipment_rows(engine, envelope.data["order_id"])
    assert (shipment.status, shipment.email, shipment.correlation_id) == (
        "PENDING",
        "ada@example.com",
        envelope.correlationid,
    )
    assert shipment.items == [{"sku": "SKU-RED-MUG", "quantity": 2}, {"sku": "SKU-TEAPOT", "quantity": 1}]
    packing = (shipment.dispatch_after - shipment.created_at).total_seconds()
    assert 59 < packing < 61  # the app's DISPATCH_DELAY_SECONDS, as the worker would use it
    assert inbox_count(engine) == 1


def test_an_order_cancelled_posted_after_it_stops_the_shipment(engine):
    confirmed = example_envelope("order.confirmed")
    order_id = confirmed.data["order_id"]
    client = client_for(engine)
    client.post("/events", json=confirmed.to_dict())

    response = client.post("/events", json=example_envelope("order.cancelled", order_id=order_id).to_dict())

    assert response.status_code == 200
    [shipment] = shipment_rows(engine, order_id)
    assert shipment.status == "CANCELLED" and shipment.cancelled_at is not None


def test_values_postgres_cannot_store_are_invalid_and_record_nothing(engine):
    client = client_for(engine)
    in_a_column = example_envelope("order.confirmed").to_dict()
    in_a_column["data"]["email"] = "ada\u0000@example.com"
    in_json = example_envelope("order.confirmed").to_dict()
    in_json["data"]["items"][0]["sku"] = "SKU-\u0000"

    for event in (in_a_column, in_json):
        response = client.post("/events", json=event)

        assert response.status_code == 422, response.json
        assert response.json["code"] == "invalid-event"
        assert shipment_rows(engine, event["data"]["order_id"]) == []
    assert inbox_count(engine) == 0
