from __future__ import annotations

import pytest

from contracts import EVENT_TYPES, example_event
from notification_service.domain import (
    SUPERSEDED_BY,
    Email,
    InvalidEvent,
    NotificationKind,
    describe_reason,
    draft_notification,
    format_money,
    kind_for,
    message_id,
)


def test_every_event_type_of_the_catalog_maps_to_a_kind():
    assert {event_type: kind_for(event_type) for event_type in EVENT_TYPES} == {
        "order.confirmed": NotificationKind.ORDER_CONFIRMED,
        "order.rejected": NotificationKind.ORDER_REJECTED,
        "order.failed": NotificationKind.ORDER_FAILED,
        "order.cancelled": NotificationKind.ORDER_CANCELLED,
        "shipment.dispatched": NotificationKind.ORDER_SHIPPED,
        "order.step": None,  # the order's timeline: no news for the customer
        "notification.sent": None,  # our own
        # The inventory's catalog (the catalog stream, not our queue): no news for a customer.
        "product.created": None,
        "product.changed": None,
        "product.removed": None,
        "product.snapshot": None,
    }


def test_other_event_types_are_not_notified():
    assert kind_for("inventory.restocked") is None
    assert draft_notification(event_type="inventory.restocked", data={}) is None


@pytest.mark.parametrize("event_type", [event_type for event_type in EVENT_TYPES if kind_for(event_type)])
def test_every_contract_example_gives_a_draft_for_its_recipient(event_type):
    data = example_event(event_type)["data"]
    draft = draft_notification(event_type=event_type, data=data)
    assert draft.order_id == data["order_id"]
    assert draft.recipient == data["email"]
    assert data["order_id"] in draft.email.subject
    assert data["order_id"] in draft.email.body


def test_a_confirmation_tells_the_total():
    draft = draft_notification(event_type="order.confirmed", data=example_event("order.confirmed")["data"])
    assert draft.email.subject == "Your order 5f0c1a9e-8d2b-4c3e-b7a6-1e2d3c4b5a69 is confirmed"
    assert "64.99 EUR" in draft.email.body


def test_a_confirmation_without_a_total_still_reads_well():
    draft = draft_notification(
        event_type="order.confirmed", data={"order_id": "o-1", "email": "a@example.com"}
    )
    assert draft.email.body == "Thank you for your order o-1. We will let you know when it ships.\n"


@pytest.mark.parametrize(
    ("event_type", "reason", "sentence"),
    [
        ("order.rejected", "out_of_stock", "an item you ordered is out of stock"),
        ("order.rejected", "unknown_sku", "an item you ordered is not in our catalogue"),
        ("order.rejected", "price_changed", "because the price of an item changed since you saw it."),
        ("order.failed", "payment_declined", "your payment was declined"),
        ("order.failed", "payment_timeout", "payment timeout"),
    ],
)
def test_a_rejection_or_failure_tells_the_reason(event_type, reason, sentence):
    data = {"order_id": "o-1", "email": "a@example.com", "reason": reason}
    assert sentence in draft_notification(event_type=event_type, data=data).email.body


def test_a_cancellation_tells_why_and_that_nothing_ships_or_stays_charged():
    draft = draft_notification(event_type="order.cancelled", data=example_event("order.cancelled")["data"])

    assert draft.kind is NotificationKind.ORDER_CANCELLED
    assert draft.email == Email(
        subject="Your order 5f0c1a9e-8d2b-4c3e-b7a6-1e2d3c4b5a69 has been cancelled",
        body="Your order 5f0c1a9e-8d2b-4c3e-b7a6-1e2d3c4b5a69 has been cancelled because you asked us "
        "to cancel it. It will not be shipped, and if you were charged for it, the payment is refunded.\n",
    )


def test_a_cancellation_with_an_unknown_or_missing_reason_still_reads_well():
    unknown = {"order_id": "o-1", "email": "a@example.com", "reason": "reservation_expired"}
    missing = {"order_id": "o-1", "email": "a@example.com"}

    def body(data: dict) -> str:
        return draft_notification(event_type="order.cancelled", data=data).email.body

    assert "because reservation expired." in body(unknown)
    assert "because of a problem on our side." in body(missing)


def test_only_a_cancellation_supersedes_a_confirmation():
    assert SUPERSEDED_BY == {NotificationKind.ORDER_CONFIRMED: NotificationKind.ORDER_CANCELLED}


def test_a_shipment_names_the_shipment():
    draft = draft_notification(
        event_type="shipment.dispatched", data=example_event("shipment.dispatched")["data"]
    )
    assert draft.kind is NotificationKind.ORDER_SHIPPED
    assert "shipment 3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7" in draft.email.body


@pytest.mark.parametrize(
    "data",
    [
        {"email": "a@example.com"},
        {"order_id": "", "email": "a@example.com"},
        {"order_id": "o-1"},
        {"order_id": "o-1", "email": "nobody"},
        {"order_id": "o-1", "email": "a@example.com\r\nBcc: everyone@example.com"},
        {"order_id": "o-1\nBcc: everyone@example.com", "email": "a@example.com"},
    ],
)
def test_an_event_without_order_or_address_is_invalid(data):
    with pytest.raises(InvalidEvent):
        draft_notification(event_type="order.failed", data=data)


@pytest.mark.parametrize(
    ("cents", "currency", "shown"),
    [
        (6499, "EUR", "64.99 EUR"),
        (5, "USD", "0.05 USD"),
        (100, None, "1.00"),
        (-1, "EUR", None),
        (True, "EUR", None),
    ],
)
def test_money_is_shown_from_cents(cents, currency, shown):
    assert format_money(cents, currency) == shown


def test_a_missing_reason_is_not_shown_as_none():
    assert describe_reason(None) == "of a problem on our side"


def test_the_message_id_is_deterministic_and_well_formed():
    assert (
        message_id(order_id="o-1", kind=NotificationKind.ORDER_SHIPPED)
        == "<o-1.order_shipped@order-pipeline.local>"
    )
    assert message_id(order_id="a b<@>", kind="order_failed") == "<a-b---.order_failed@order-pipeline.local>"
