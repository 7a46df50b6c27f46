"""The saga against a real PostgreSQL, with fake inventory and payment services."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from contracts.schemas import validate_event
from messaging.database import make_engine
from order_service import db, handlers
from order_service.clients import (
    Captured,
    Declined,
    DownstreamUnavailable,
    ReservationRefused,
    Reserved,
)
from order_service.domain import IdempotencyKeyReused, InvalidOrder


class FakeInventory:
    def __init__(self, *, refuse: str | None = None, down: bool = False, maybe_applied: bool = False):
        self.refuse, self.down, self.maybe_applied = refuse, down, maybe_applied
        self.calls: list[tuple[str, str]] = []

    def reserve(self, *, order_id, items):
        self.calls.append(("reserve", order_id))
        if self.down:
            raise DownstreamUnavailable("inventory", maybe_applied=self.maybe_applied, detail="down")
        if self.refuse:
            return ReservationRefused(code=self.refuse, sku=items[0]["sku"])
        priced = [{**item, "unit_price_cents": 700} for item in items]
        return Reserved(items=priced, total_cents=sum(i["quantity"] * 700 for i in items))

    def commit(self, *, order_id):
        self.calls.append(("commit", order_id))

    def release(self, *, order_id):
        self.calls.append(("release", order_id))
        if self.down:
            raise DownstreamUnavailable("inventory", maybe_applied=False, detail="down")


class FakePayment:
    def __init__(self, *, decline: bool = False, down: bool = False, maybe_applied: bool = False):
        self.decline, self.down, self.maybe_applied = decline, down, maybe_applied
        self.charges: list[dict] = []

    def charge(self, **charge):
        self.charges.append(charge)
        if self.down:
            raise DownstreamUnavailable("payment", maybe_applied=self.maybe_applied, detail="down")
        return Declined(decline_code="generic_decline") if self.decline else Captured(payment_id="pay-1")


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url(migrate="order_service"))
    yield engine
    engine.dispose()


def deps(engine, inventory=None, payment=None):
    return handlers.Dependencies(
        engine=engine,
        inventory=inventory or FakeInventory(),
        payment=payment or FakePayment(),
        currency="EUR",
    )


def body(**changes):
    return {
        "customer_id": "c-1",
        "email": "ada@example.test",
        "items": [{"sku": "SKU-1", "quantity": 3}],
        "payment_token": "tok_visa",
    } | changes


def outbox_events(engine):
    with engine.connect() as connection:
        return [row.envelope for row in connection.execute(sa.select(db.outbox.table).order_by("id"))]


def transitions(engine, order_id):
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(db.order_transitions.c.to_status)
            .where(db.order_transitions.c.order_id == order_id)
            .order_by(db.order_transitions.c.id)
        )
        return [row.to_status for row in rows]


def test_a_paid_order_is_confirmed_with_its_event_in_the_outbox(engine):
    inventory, payment = FakeInventory(), FakePayment()

    reply = handlers.place_order(deps=deps(engine, inventory, payment), idempotency_key="k1", body=body())

    assert (reply.status, reply.body["status"], reply.body["total_cents"]) == (201, "CONFIRMED", 2100)
    assert payment.charges == [
        {"order_id": reply.order_id, "amount_cents": 2100, "currency": "EUR", "payment_token": "tok_visa"}
    ]
    assert inventory.calls == [("reserve", reply.order_id), ("commit", reply.order_id)]
    assert transitions(engine, reply.order_id) == ["PENDING", "RESERVED", "CONFIRMED"]
    [event] = outbox_events(engine)
    validate_event(event)
    assert (event["type"], event["data"]["order_id"], event["data"]["total_cents"]) == (
        "order.confirmed",
        reply.order_id,
        2100,
    )


def test_out_of_stock_rejects_without_charging(engine):
    payment = FakePayment()

    reply = handlers.place_order(
        deps=deps(engine, FakeInventory(refuse="out-of-stock"), payment), idempotency_key="k", body=body()
    )

    assert (reply.body["status"], reply.body["failure_reason"]) == ("REJECTED", "out_of_stock")
    assert payment.charges == []
    [event] = outbox_events(engine)
    validate_event(event)
    assert (event["type"], event["data"]["reason"]) == ("order.rejected", "out_of_stock")


def test_a_decline_releases_the_reservation_and_fails_the_order(engine):
    inventory = FakeInventory()

    reply = handlers.place_order(
        deps=deps(engine, inventory, FakePayment(decline=True)), idempotency_key="k", body=body()
    )

    assert (reply.body["status"], reply.body["failure_reason"]) == ("FAILED", "payment_declined")
    assert inventory.calls[-1] == ("release", reply.order_id)
    assert [e["type"] for e in outbox_events(engine)] == ["order.failed"]


def test_payment_unreachable_fails_fast_with_503_and_releases(engine):
    inventory = FakeInventory()

    reply = handlers.place_order(
        deps=deps(engine, inventory, FakePayment(down=True)), idempotency_key="k", body=body()
    )

    assert (reply.status, reply.body["code"], reply.body["dependency"]) == (
        503,
        "dependency-unavailable",
        "payment",
    )
    assert reply.body["order"]["status"] == "FAILED"
    assert inventory.calls[-1] == ("release", reply.order_id)


def test_a_charge_with_unknown_outcome_is_not_guessed(engine):
    inventory = FakeInventory()

    reply = handlers.place_order(
        deps=deps(engine, inventory, FakePayment(down=True, maybe_applied=True)),
        idempotency_key="k",
        body=body(),
    )

    assert (reply.status, reply.body["status"]) == (202, "RESERVED")
    assert ("release", reply.order_id) not in inventory.calls
    assert outbox_events(engine) == []


def test_replay_returns_the_first_reply_and_calls_nobody(engine):
    first = handlers.place_order(deps=deps(engine), idempotency_key="same", body=body())
    inventory, payment = FakeInventory(), FakePayment()

    again = handlers.place_order(deps=deps(engine, inventory, payment), idempotency_key="same", body=body())

    assert (again.status, again.body) == (first.status, first.body)
    assert inventory.calls == [] and payment.charges == []
    with pytest.raises(IdempotencyKeyReused):
        handlers.place_order(deps=deps(engine), idempotency_key="same", body=body(customer_id="c-2"))


def test_invalid_body_creates_nothing(engine):
    with pytest.raises(InvalidOrder):
        handlers.place_order(deps=deps(engine), idempotency_key="k", body=body(items=[]))

    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(db.orders)).scalar() == 0


def test_shipment_event_ships_a_confirmed_order_once(engine):
    from messaging.envelope import new_event

    placed = handlers.place_order(deps=deps(engine), idempotency_key="k", body=body())
    event = new_event(type="shipment.dispatched", source="test", data={"order_id": placed.order_id})

    handlers.record_shipment_dispatched(engine=engine, envelope=event)
    handlers.record_shipment_dispatched(engine=engine, envelope=event)
    other = new_event(type="shipment.dispatched", source="test", data={"order_id": placed.order_id})
    handlers.record_shipment_dispatched(engine=engine, envelope=other)

    assert handlers.get_order(engine=engine, order_id=placed.order_id)["status"] == "SHIPPED"
    assert transitions(engine, placed.order_id).count("SHIPPED") == 1


def test_listing_pages_with_a_cursor(engine):
    ids = [
        handlers.place_order(deps=deps(engine), idempotency_key=str(uuid.uuid4()), body=body()).order_id
        for _ in range(3)
    ]

    first = handlers.list_orders(engine=engine, customer_id="c-1", status=None, limit=2, cursor=None)
    second = handlers.list_orders(
        engine=engine, customer_id="c-1", status=None, limit=2, cursor=int(first["next_cursor"])
    )

    assert [o["id"] for o in first["items"] + second["items"]] == list(reversed(ids))
    assert second["next_cursor"] is None
