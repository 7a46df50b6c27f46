from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from contracts import example_event
from warehouse_service.domain import (
    CancelledOrder,
    CancelOutcome,
    DispatchedShipment,
    InvalidOrderEvent,
    ShipmentLine,
    ShipmentStatus,
    cancel_outcome,
    cancelled_order_from_event,
    dispatched_event_data,
    shipment_request_from_event,
)


def test_reads_order_id_email_and_lines_from_the_contract_example():
    request = shipment_request_from_event(example_event("order.confirmed")["data"])
    assert request.order_id == "5f0c1a9e-8d2b-4c3e-b7a6-1e2d3c4b5a69"
    assert request.email == "ada@example.com"
    assert request.lines == (ShipmentLine("SKU-RED-MUG", 2), ShipmentLine("SKU-TEAPOT", 1))


def test_ignores_fields_it_does_not_need_and_tolerates_missing_items():
    request = shipment_request_from_event(
        {"order_id": "o-1", "email": "a@example.com", "gift_wrap": True, "total_cents": "not read"}
    )
    assert request.lines == ()


@pytest.mark.parametrize(
    "data",
    [
        {"email": "a@example.com"},
        {"order_id": "", "email": "a@example.com"},
        {"order_id": 7, "email": "a@example.com"},
        {"order_id": "o-1"},
        {"order_id": "o-1", "email": "a@example.com", "items": "SKU-1"},
        {"order_id": "o-1", "email": "a@example.com", "items": [{"sku": "SKU-1"}]},
        {"order_id": "o-1", "email": "a@example.com", "items": [{"sku": "SKU-1", "quantity": True}]},
        {"order_id": "o-1", "email": "a@example.com", "items": [{"sku": "SKU-1", "quantity": 0}]},
        {"order_id": "o-1", "email": "a@example.com", "items": ["SKU-1"]},
    ],
)
def test_an_event_the_warehouse_cannot_ship_is_invalid(data):
    with pytest.raises(InvalidOrderEvent):
        shipment_request_from_event(data)


def test_dispatched_at_is_written_in_utc():
    paris = timezone(timedelta(hours=1))
    shipment = DispatchedShipment(
        shipment_id="s-1",
        order_id="o-1",
        email="a@example.com",
        correlation_id=None,
        dispatched_at=datetime(2025, 1, 15, 11, 30, tzinfo=paris),
    )
    assert dispatched_event_data(shipment) == {
        "shipment_id": "s-1",
        "order_id": "o-1",
        "email": "a@example.com",
        "dispatched_at": "2025-01-15T10:30:00+00:00",
    }


def test_a_naive_dispatch_time_is_refused():
    shipment = DispatchedShipment(
        shipment_id="s-1",
        order_id="o-1",
        email="a@example.com",
        correlation_id=None,
        dispatched_at=datetime.now(UTC).replace(tzinfo=None),
    )
    with pytest.raises(ValueError, match="timezone"):
        dispatched_event_data(shipment)


def test_reads_the_order_and_address_from_the_cancellation_example():
    assert cancelled_order_from_event(example_event("order.cancelled")["data"]) == CancelledOrder(
        order_id="5f0c1a9e-8d2b-4c3e-b7a6-1e2d3c4b5a69", email="ada@example.com"
    )


def test_a_cancellation_needs_only_the_order_id():
    assert cancelled_order_from_event({"order_id": "o-1"}) == CancelledOrder(order_id="o-1", email="")
    for data in ({}, {"order_id": ""}, {"order_id": 7, "email": "a@example.com"}):
        with pytest.raises(InvalidOrderEvent):
            cancelled_order_from_event(data)


def test_what_a_cancellation_does_to_each_shipment_state():
    assert {
        state: cancel_outcome(current=state)
        for state in (None, ShipmentStatus.PENDING, ShipmentStatus.DISPATCHED, ShipmentStatus.CANCELLED)
    } == {
        None: CancelOutcome.TOMBSTONE,
        ShipmentStatus.PENDING: CancelOutcome.CANCELLED,
        ShipmentStatus.DISPATCHED: CancelOutcome.TOO_LATE,
        ShipmentStatus.CANCELLED: CancelOutcome.ALREADY_CANCELLED,
    }
