"""Handlers where no database is needed: routing, poison detection, the produced event's contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import example_event, validate_event
from messaging.consumer import deliver_batch
from messaging.envelope import PoisonEvent, envelope_from_dict
from warehouse_service import handlers
from warehouse_service.domain import DispatchedShipment


class UnusableEngine:
    """Fails the test if a handler opens a transaction it should not need."""

    def begin(self):
        raise AssertionError("the handler must not touch the database here")

    connect = begin


class FakeMessage:
    def __init__(self) -> None:
        self.properties = {"message_id": "m-1"}
        self.headers: dict = {}
        self.settled: str | None = None

    def ack(self) -> None:
        self.settled = "ack"

    def reject(self, requeue: bool) -> None:
        self.settled = "requeue" if requeue else "reject"

    def requeue(self) -> None:
        self.settled = "requeue"


def test_events_other_than_order_confirmed_are_ignored():
    for event_type in ("order.rejected", "order.failed", "shipment.dispatched"):
        envelope = envelope_from_dict(example_event(event_type))
        handlers.handle_events(engine=UnusableEngine(), envelopes=[envelope], dispatch_delay_seconds=0)


@pytest.mark.parametrize("event_type", ["order.confirmed", "order.cancelled"])
def test_an_order_event_without_order_id_is_poison_before_any_transaction(event_type):
    event = example_event(event_type)
    del event["data"]["order_id"]
    with pytest.raises(PoisonEvent, match="order_id"):
        handlers.handle_events(
            engine=UnusableEngine(), envelopes=[envelope_from_dict(event)], dispatch_delay_seconds=0
        )


def test_an_order_cancelled_is_acted_on_not_ignored():
    # The unusable engine proves the handler reaches for the database (it would ignore silently).
    with pytest.raises(AssertionError, match="must not touch the database"):
        handlers.handle_events(
            engine=UnusableEngine(),
            envelopes=[envelope_from_dict(example_event("order.cancelled"))],
            dispatch_delay_seconds=0,
        )


def test_the_consumer_dead_letters_such_an_event_and_acks_ignored_ones():
    def handle_batch(envelopes):
        handlers.handle_events(engine=UnusableEngine(), envelopes=envelopes, dispatch_delay_seconds=0)

    poison = example_event("order.confirmed")
    del poison["data"]["order_id"]
    outcomes = {}
    for name, body in (("poison", poison), ("ignored", example_event("order.failed"))):
        message = FakeMessage()
        [outcome] = deliver_batch(deliveries=[(body, message)], handle_batch=handle_batch, retry_later=None)
        outcomes[name] = (outcome, message.settled)
    assert outcomes == {"poison": ("dead-lettered", "reject"), "ignored": ("acked", "ack")}


def dispatched(correlation_id: str | None) -> DispatchedShipment:
    return DispatchedShipment(
        shipment_id="3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7",
        order_id="o-1",
        email="ada@example.com",
        correlation_id=correlation_id,
        dispatched_at=datetime(2025, 1, 15, 10, 30, 2, 499000, tzinfo=UTC),
    )


def test_the_shipment_dispatched_event_honours_its_contract():
    envelope = handlers.shipment_dispatched_event(dispatched("corr-1"))
    validate_event(envelope.to_dict())
    assert (envelope.type, envelope.source, envelope.subject) == (
        "shipment.dispatched",
        "warehouse_service",
        "o-1",
    )
    assert envelope.correlationid == "corr-1"
    assert envelope.data["dispatched_at"] == "2025-01-15T10:30:02.499000+00:00"


def test_without_a_correlation_id_the_event_still_honours_its_contract():
    envelope = handlers.shipment_dispatched_event(dispatched(None))
    validate_event(envelope.to_dict())
    assert "correlationid" not in envelope.to_dict()


def test_every_dispatched_event_gets_its_own_id():
    ids = {handlers.shipment_dispatched_event(dispatched("c")).id for _ in range(3)}
    assert len(ids) == 3
