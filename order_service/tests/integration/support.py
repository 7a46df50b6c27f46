"""What the order service's integration tests build and read: wiring with fakes, request
bodies, the outbox, timelines."""

import sqlalchemy as sa

from order_service import db
from order_service.bootstrap import Dependencies
from order_service.tests.integration.fakes import FakeInventory, FakePayment, FakeWarehouse


def make_deps(engine, inventory=None, payment=None, warehouse=None, hold_seconds=10.0, receivers=()):
    return Dependencies(
        engine=engine,
        inventory=inventory or FakeInventory(),
        payment=payment or FakePayment(),
        warehouse=warehouse or FakeWarehouse(),
        currency="EUR",
        hold_seconds=hold_seconds,
        event_receivers=receivers,
    )


def order_body(**changes):
    return {
        "customer_id": "c-1",
        "email": "ada@example.test",
        "items": [{"sku": "SKU-1", "quantity": 3}],
        "payment_token": "tok_visa",
    } | changes


def outbox_events(engine, *, steps=False):
    """The outbox's events, oldest first; without the `order.step` of every transition unless
    `steps` (step_events reads those)."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(db.outbox.table).order_by("id"))
        return [row.envelope for row in rows if steps or row.event_type != "order.step"]


def step_events(engine):
    """The `order.step` events in the outbox, oldest first, as (seq, kind, status, reason)."""
    return [
        (event["data"]["seq"], event["data"]["kind"], event["data"]["status"], event["data"].get("reason"))
        for event in outbox_events(engine, steps=True)
        if event["type"] == "order.step"
    ]


def transitions(engine, order_id):
    with engine.connect() as connection:
        return [t.to_status for t in db.transitions_of(connection, order_id=order_id)]


def make_due(engine, order_id):
    """As if the order's hold ran out (the request that owned it is long gone)."""
    with engine.begin() as connection:
        connection.execute(
            db.orders.update().where(db.orders.c.id == order_id).values(next_attempt_at=sa.func.now())
        )
