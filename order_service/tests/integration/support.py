"""What the order service's integration tests build and read: wiring with fakes, request
bodies, the catalog copy, the outbox, timelines."""

from datetime import UTC, datetime

import sqlalchemy as sa

from order_service import catalog, db
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


def copy_product(engine, sku, *, price_cents=1000, availability="in_stock", removed=False, version=1):
    """A product in the catalog copy, as its follower would have written it from the
    inventory's events (written here directly: these tests are about the copy's readers)."""
    with engine.begin() as connection:
        connection.execute(
            catalog.catalog.insert().values(
                sku=sku, name=f"Product {sku}", price_cents=price_cents, availability=availability,
                removed=removed, version=version, changed_at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
            )
        )  # fmt: skip


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
