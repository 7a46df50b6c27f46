"""Properties of the warehouse's readers of order events (hypothesis): any event data is either
what the warehouse acts on or the domain's own InvalidOrderEvent (dead-lettered), never
another exception; and the shipment.dispatched it writes always meets its contract."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from contracts import example_event, validate_event
from testsupport.json_values import bodies, json_values
from warehouse_service.domain import (
    CancelledOrder,
    DispatchedShipment,
    InvalidOrderEvent,
    ShipmentRequest,
    cancelled_order_from_event,
    dispatched_event_data,
    shipment_request_from_event,
)

texts = st.text(min_size=1, max_size=40)
valid_confirmations = st.fixed_dictionaries(
    {
        "order_id": texts,
        "email": texts,
        "items": st.lists(
            st.fixed_dictionaries({"sku": texts, "quantity": st.integers(1, 1000)}) | json_values, max_size=4
        ),
    }
)


@given(bodies(valid_confirmations))
def test_order_confirmed_data_is_a_shipment_request_or_invalid(data):
    try:
        request = shipment_request_from_event(data)
    except InvalidOrderEvent:
        return
    assert isinstance(request, ShipmentRequest)
    assert request.order_id == data["order_id"] and request.email == data["email"]
    for line in request.lines:
        assert line.sku and type(line.quantity) is int and line.quantity >= 1
        assert line.to_dict() in data["items"]  # read as sent, nothing made up


@given(bodies(st.fixed_dictionaries({"order_id": texts, "email": texts})))
def test_order_cancelled_data_is_a_cancelled_order_or_invalid(data):
    try:
        cancelled = cancelled_order_from_event(data)
    except InvalidOrderEvent:
        return
    assert isinstance(cancelled, CancelledOrder)
    assert cancelled.order_id == data["order_id"] and isinstance(cancelled.email, str)


@given(
    shipment_id=texts,
    order_id=texts,
    email=st.from_regex(r"[a-z]{1,10}@[a-z]{1,10}\.[a-z]{2,4}", fullmatch=True),
    dispatched_at=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))])),
)
def test_shipment_dispatched_data_always_meets_its_contract(shipment_id, order_id, email, dispatched_at):
    shipment = DispatchedShipment(
        shipment_id=shipment_id,
        order_id=order_id,
        email=email,
        correlation_id=None,
        dispatched_at=dispatched_at,
    )
    event = example_event("shipment.dispatched")

    validate_event({**event, "data": dispatched_event_data(shipment)})
