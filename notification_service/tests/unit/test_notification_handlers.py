"""Handlers where no database is needed: what is ignored, what is poison."""

from __future__ import annotations

import pytest

from contracts import example_event
from messaging.consumer import deliver_batch
from messaging.envelope import PoisonEvent, envelope_from_dict, new_event
from notification_service import handlers


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


def refuse_enqueue(notification_ids: list[str]) -> None:
    raise AssertionError(f"nothing should be sent, got {notification_ids}")


def test_an_event_customers_do_not_hear_about_is_acked_untouched():
    envelope = new_event(type="inventory.restocked", source="inventory_service", data={"sku": "SKU-1"})
    handlers.handle_events(engine=UnusableEngine(), envelopes=[envelope], enqueue_sends=refuse_enqueue)
    assert handlers.record_notifications(engine=UnusableEngine(), envelopes=[envelope]) == []


@pytest.mark.parametrize("missing", ["order_id", "email"])
def test_an_event_without_order_or_address_is_poison_before_any_transaction(missing):
    event = example_event("order.rejected")
    del event["data"][missing]
    with pytest.raises(PoisonEvent, match=missing):
        handlers.record_notifications(engine=UnusableEngine(), envelopes=[envelope_from_dict(event)])


def test_the_consumer_dead_letters_poison():
    event = example_event("shipment.dispatched")
    del event["data"]["email"]
    message = FakeMessage()

    def handle_batch(envelopes):
        handlers.handle_events(engine=UnusableEngine(), envelopes=envelopes, enqueue_sends=refuse_enqueue)

    assert deliver_batch(deliveries=[(event, message)], handle_batch=handle_batch, retry_later=None) == [
        "dead-lettered"
    ]
    assert message.settled == "reject"


class RefusingMailer:
    def send(
        self, *, to: str, subject: str, body: str, message_id: str, traceparent: str | None = None
    ) -> None:
        raise OSError("connection refused")

    def has_delivered(self, message_id: str) -> bool | None:
        return None


def test_a_failed_send_is_timed_and_counted_as_a_failure():
    from prometheus_client import REGISTRY

    from notification_service.domain import ClaimedNotification, draft_notification

    draft = draft_notification(event_type="order.confirmed", data=example_event("order.confirmed")["data"])
    assert draft is not None
    sends = lambda: REGISTRY.get_sample_value("pipeline_email_send_seconds_count")  # noqa: E731
    failures = lambda: REGISTRY.get_sample_value("pipeline_email_send_failures_total")  # noqa: E731
    before = sends(), failures()

    with pytest.raises(OSError):
        handlers._send_once(RefusingMailer(), ClaimedNotification(notification_id="n-1", draft=draft))

    assert (sends(), failures()) == (before[0] + 1, before[1] + 1)


def test_the_event_of_an_email_sent_keeps_to_its_contract_and_its_orders_trace():
    from datetime import UTC, datetime

    from contracts import validate_event
    from notification_service.domain import ClaimedNotification, draft_notification

    data = example_event("shipment.dispatched")["data"]
    draft = draft_notification(event_type="shipment.dispatched", data=data)
    assert draft is not None
    recorded_in = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    claimed = ClaimedNotification(notification_id="n-1", draft=draft, traceparent=recorded_in)
    sent_at = datetime(2025, 1, 15, 10, 30, 2, 700000, tzinfo=UTC)

    event = handlers.sent_event(claimed, sent_at=sent_at, traceparent=None).to_dict()

    validate_event(event)
    assert (event["type"], event["source"], event["subject"], event["traceparent"]) == (
        "notification.sent", "notification_service", data["order_id"], recorded_in
    )  # fmt: skip
    assert event["data"] == {
        "notification_id": "n-1", "order_id": data["order_id"], "kind": "order_shipped",
        "sent_at": "2025-01-15T10:30:02.700000+00:00",
    }  # fmt: skip
