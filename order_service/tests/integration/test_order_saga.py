"""The saga against a real PostgreSQL, with fake inventory and payment services."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from contracts.schemas import validate_event
from messaging.envelope import PoisonEvent, new_event
from order_service import db, handlers
from order_service.api import answer_place_order
from order_service.domain import IdempotencyKeyReused, InvalidOrder
from order_service.tests.integration.fakes import FakeInventory, FakePayment
from order_service.tests.integration.support import (
    make_deps,
    order_body,
    outbox_events,
    step_events,
    transitions,
)


def place(engine, key="k", body=None, **fakes):
    return answer_place_order(deps=make_deps(engine, **fakes), idempotency_key=key, body=body or order_body())


def test_a_paid_order_is_confirmed_with_its_event_in_the_outbox(engine):
    inventory, payment = FakeInventory(), FakePayment()

    reply = place(engine, inventory=inventory, payment=payment)

    assert (reply.status, reply.body["status"], reply.body["total_cents"]) == (201, "CONFIRMED", 2100)
    assert payment.charges == [
        {"order_id": reply.order_id, "amount_cents": 2100, "currency": "EUR", "payment_token": "tok_visa"}
    ]
    assert inventory.calls == [("reserve", reply.order_id), ("commit", reply.order_id)]
    assert transitions(engine, reply.order_id) == ["PENDING", "RESERVED", "CONFIRMED"]
    assert step_events(engine) == [
        (1, "placed", "PENDING", None), (2, "reserved", "RESERVED", None), (3, "confirmed", "CONFIRMED", None)
    ]  # fmt: skip
    [event] = outbox_events(engine)
    validate_event(event)
    assert (event["type"], event["data"]["order_id"], event["data"]["total_cents"]) == (
        "order.confirmed",
        reply.order_id,
        2100,
    )


def test_out_of_stock_rejects_without_charging(engine):
    payment = FakePayment()

    reply = place(engine, inventory=FakeInventory(refuse="out-of-stock"), payment=payment)

    assert (reply.body["status"], reply.body["failure_reason"]) == ("REJECTED", "out_of_stock")
    assert payment.charges == []
    [event] = outbox_events(engine)
    validate_event(event)
    assert (event["type"], event["data"]["reason"]) == ("order.rejected", "out_of_stock")


def test_a_decline_releases_the_reservation_and_fails_the_order(engine):
    inventory = FakeInventory()

    reply = place(engine, inventory=inventory, payment=FakePayment(decline=True))

    assert (reply.body["status"], reply.body["failure_reason"]) == ("FAILED", "payment_declined")
    assert inventory.calls[-1] == ("release", reply.order_id)
    assert [e["type"] for e in outbox_events(engine)] == ["order.failed"]
    assert step_events(engine)[-1] == (3, "failed", "FAILED", "payment_declined")
    assert handlers.order_timeline(engine=engine, order_id=reply.order_id).order.stock_settled is True


@pytest.mark.parametrize("unit_price_cents", [0, 2_147_483_648])
def test_a_total_payment_cannot_charge_fails_the_order_without_calling_payment(engine, unit_price_cents):
    """Found by fuzzing the running stack: a product priced 0 made an order that payment
    refused (amount_cents from 1), which the order API answered as payment-unavailable, 503.
    A total above 2^31 - 1 cents (a 1M EUR product, 22 of them) was a 500: the integer column."""
    inventory, payment = FakeInventory(unit_price_cents=unit_price_cents), FakePayment()

    reply = place(engine, inventory=inventory, payment=payment)

    assert (reply.status, reply.body["status"]) == (201, "FAILED")
    assert reply.body["failure_reason"] == "total_not_chargeable"
    assert payment.charges == []
    assert inventory.calls[-1] == ("release", reply.order_id)
    [event] = outbox_events(engine)
    validate_event(event)
    assert (event["type"], event["data"]["reason"]) == ("order.failed", "total_not_chargeable")


def test_payment_unreachable_fails_fast_with_503_and_releases(engine):
    inventory = FakeInventory()

    reply = place(engine, inventory=inventory, payment=FakePayment(down=True))

    assert (reply.status, reply.body["code"], reply.body["dependency"]) == (
        503,
        "payment-unavailable",
        "payment",
    )
    assert reply.body["order"]["status"] == "FAILED"
    assert reply.body["order"]["failure_reason"] == "payment_unavailable"
    assert inventory.calls[-1] == ("release", reply.order_id)


def test_inventory_unreachable_fails_with_503_naming_inventory(engine):
    reply = place(engine, inventory=FakeInventory(down=True))

    assert (reply.status, reply.body["code"]) == (503, "inventory-unavailable")


def test_replay_returns_the_first_reply_and_calls_nobody(engine):
    first = place(engine, key="same")
    inventory, payment = FakeInventory(), FakePayment()

    again = place(engine, key="same", inventory=inventory, payment=payment)

    assert (again.status, again.body) == (first.status, first.body)
    assert inventory.calls == [] and payment.charges == []
    with pytest.raises(IdempotencyKeyReused):
        place(engine, key="same", body=order_body(customer_id="c-2"))


def test_a_retry_while_the_first_request_runs_answers_202_for_the_same_order(engine):
    answers = []

    class RetryingClient(FakeInventory):  # the client retries while our saga waits on inventory
        def reserve(self, *, order_id, items):
            answers.append(place(engine, key="same"))
            return super().reserve(order_id=order_id, items=items)

    first = place(engine, key="same", inventory=RetryingClient())

    [during] = answers
    assert (during.status, during.order_id, during.body["status"]) == (202, first.order_id, "PENDING")
    with engine.connect() as connection:  # the retry's own order went with its rollback
        assert connection.execute(sa.select(db.orders.c.id)).scalars().all() == [first.order_id]
    assert (first.status, place(engine, key="same").body) == (201, first.body)


def test_invalid_body_creates_nothing(engine):
    with pytest.raises(InvalidOrder):
        place(engine, body=order_body(items=[]))

    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(db.orders)).scalar() == 0


def test_shipment_event_ships_a_confirmed_order_once(engine):
    placed = place(engine)
    event = new_event(type="shipment.dispatched", source="test", data={"order_id": placed.order_id})

    handlers.record_shipments_dispatched(engine=engine, envelopes=[event])
    handlers.record_shipments_dispatched(engine=engine, envelopes=[event])
    other = new_event(type="shipment.dispatched", source="test", data={"order_id": placed.order_id})
    handlers.record_shipments_dispatched(engine=engine, envelopes=[other])

    assert handlers.get_order(engine=engine, order_id=placed.order_id).status == "SHIPPED"
    assert transitions(engine, placed.order_id).count("SHIPPED") == 1


def test_a_batch_of_shipment_events_ships_each_order_once(engine):
    first, second = place(engine, key="a"), place(engine, key="b")
    event = new_event(type="shipment.dispatched", source="test", data={"order_id": first.order_id})
    again = new_event(type="shipment.dispatched", source="test", data={"order_id": first.order_id})
    other = new_event(type="shipment.dispatched", source="test", data={"order_id": second.order_id})

    handlers.record_shipments_dispatched(engine=engine, envelopes=[event, event, again, other])
    handlers.record_shipments_dispatched(engine=engine, envelopes=[other])  # redelivered

    for placed in (first, second):
        assert handlers.get_order(engine=engine, order_id=placed.order_id).status == "SHIPPED"
        assert transitions(engine, placed.order_id).count("SHIPPED") == 1


def test_a_batch_with_an_unknown_order_is_poison_and_changes_nothing(engine):
    placed = place(engine)
    known = new_event(type="shipment.dispatched", source="test", data={"order_id": placed.order_id})
    unknown = new_event(type="shipment.dispatched", source="test", data={"order_id": str(uuid.uuid4())})

    with pytest.raises(PoisonEvent):
        handlers.record_shipments_dispatched(engine=engine, envelopes=[known, unknown])

    assert handlers.get_order(engine=engine, order_id=placed.order_id).status == "CONFIRMED"
    handlers.record_shipments_dispatched(engine=engine, envelopes=[known])  # the step's one-by-one retry
    assert handlers.get_order(engine=engine, order_id=placed.order_id).status == "SHIPPED"


def test_listing_pages_with_a_cursor(engine):
    ids = [place(engine, key=str(uuid.uuid4())).order_id for _ in range(3)]

    first = handlers.list_orders(engine=engine, customer_id="c-1", status=None, limit=2, cursor=None)
    second = handlers.list_orders(
        engine=engine, customer_id="c-1", status=None, limit=2, cursor=int(first.next_cursor)
    )

    assert [o.id for o in first.orders + second.orders] == list(reversed(ids))
    assert second.next_cursor is None
