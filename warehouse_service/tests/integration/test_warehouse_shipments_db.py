"""Warehouse handlers and API against a real PostgreSQL."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from contracts import validate_event
from messaging.credentials import ADMIN
from messaging.envelope import Envelope, envelope_from_dict
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.events import example_envelope
from warehouse_service import db, handlers
from warehouse_service.api import create_app
from warehouse_service.config import Settings


def count(engine: sa.Engine, table: sa.Table, *where) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def shipment_rows(engine: sa.Engine, order_id: str) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(sa.select(db.shipments).where(db.shipments.c.order_id == order_id)).all()


def outbox_envelopes(engine: sa.Engine) -> list[dict]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(db.outbox.table.c.envelope)).scalars())


def confirm(engine: sa.Engine, envelope: Envelope, *, delay: float) -> None:
    handlers.handle_events(engine=engine, envelopes=[envelope], dispatch_delay_seconds=delay)


def test_the_migration_creates_exactly_the_tables_db_py_declares(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_the_same_event_twice_makes_one_shipment_and_one_inbox_row(engine):
    envelope = example_envelope("order.confirmed")
    confirm(engine, envelope, delay=60)
    [first] = shipment_rows(engine, envelope.data["order_id"])
    confirm(engine, envelope, delay=60)
    [shipment] = shipment_rows(engine, envelope.data["order_id"])
    assert shipment == first  # the redelivery changed nothing
    assert (shipment.status, shipment.email) == ("PENDING", "ada@example.com")
    assert shipment.items == [{"sku": "SKU-RED-MUG", "quantity": 2}, {"sku": "SKU-TEAPOT", "quantity": 1}]
    assert shipment.correlation_id == envelope.correlationid
    assert count(engine, db.inbox.table, db.inbox.table.c.message_id == envelope.id) == 1


def test_another_event_for_the_same_order_is_harmless(engine):
    first = example_envelope("order.confirmed")
    again = example_envelope("order.confirmed", order_id=first.data["order_id"])
    confirm(engine, first, delay=60)
    [created] = shipment_rows(engine, first.data["order_id"])
    confirm(engine, again, delay=60)
    assert shipment_rows(engine, first.data["order_id"]) == [created]
    assert count(engine, db.inbox.table) == 2  # both events are remembered as handled


def test_dispatch_takes_only_due_shipments_and_writes_one_event_each(engine):
    due = [example_envelope("order.confirmed") for _ in range(3)]
    later = example_envelope("order.confirmed")
    for envelope in due:
        confirm(engine, envelope, delay=0)
    confirm(engine, later, delay=3600)

    assert handlers.dispatch_due_shipments(engine=engine) == 3
    assert handlers.dispatch_due_shipments(engine=engine) == 0

    for envelope in due:
        [shipment] = shipment_rows(engine, envelope.data["order_id"])
        assert shipment.status == "DISPATCHED" and shipment.dispatched_at is not None
    [waiting] = shipment_rows(engine, later.data["order_id"])
    assert (waiting.status, waiting.dispatched_at) == ("PENDING", None)

    events = outbox_envelopes(engine)
    assert sorted(event["data"]["order_id"] for event in events) == sorted(e.data["order_id"] for e in due)
    for event in events:
        validate_event(event)
        assert event["type"] == "shipment.dispatched"
        assert event["correlationid"] == event["data"]["order_id"]  # carried over from order.confirmed
        [shipment] = shipment_rows(engine, event["data"]["order_id"])
        assert event["data"]["shipment_id"] == shipment.id
        assert envelope_from_dict(event).data["dispatched_at"] == shipment.dispatched_at.isoformat()


def test_the_limit_bounds_one_pass(engine):
    for _ in range(5):
        confirm(engine, example_envelope("order.confirmed"), delay=0)
    assert handlers.dispatch_due_shipments(engine=engine, limit=2) == 2
    assert count(engine, db.shipments, db.shipments.c.status == "PENDING") == 3
    assert count(engine, db.outbox.table) == 2


def test_two_concurrent_dispatchers_dispatch_each_shipment_once(engine):
    shipments = 60
    for _ in range(shipments):
        confirm(engine, example_envelope("order.confirmed"), delay=0)
    start = threading.Barrier(2)
    totals: list[int] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            start.wait(timeout=10)
            total = 0
            # Small batches so the two transactions overlap many times.
            while (dispatched := handlers.dispatch_due_shipments(engine=engine, limit=3)) > 0:
                total += dispatched
            totals.append(total)
        except BaseException as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(totals) == shipments
    events = outbox_envelopes(engine)
    assert len(events) == shipments
    assert len({event["data"]["shipment_id"] for event in events}) == shipments
    assert count(engine, db.shipments, db.shipments.c.status == "PENDING") == 0


def test_the_api_lists_and_shows_shipments(engine):
    envelope = example_envelope("order.confirmed")
    confirm(engine, envelope, delay=0)
    confirm(engine, example_envelope("order.confirmed"), delay=0)
    [shipment_id] = [row.id for row in shipment_rows(engine, envelope.data["order_id"])]
    client = create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine).test_client()

    listed = client.get(f"/shipments?order_id={envelope.data['order_id']}")
    assert listed.status_code == 200
    [shipment] = listed.json
    assert set(shipment) == {
        "id",
        "order_id",
        "status",
        "email",
        "items",
        "created_at",
        "dispatched_at",
        "cancelled_at",
    }
    assert (shipment["id"], shipment["status"], shipment["dispatched_at"]) == (shipment_id, "PENDING", None)
    assert len(client.get("/shipments", headers=bearer(ADMIN)).json) == 2  # every shipment: admin
    assert client.get("/shipments?order_id=nobody").json == []

    handlers.dispatch_due_shipments(engine=engine)
    shown = client.get(f"/shipments/{shipment_id}")
    assert shown.status_code == 200
    assert shown.json["status"] == "DISPATCHED" and shown.json["dispatched_at"] is not None

    missing = client.get("/shipments/no-such-id")
    assert missing.status_code == 404
    assert missing.json["code"] == "shipment-not-found"
    assert client.get("/readyz").status_code == 200


def test_a_batch_has_the_effect_of_its_events_one_by_one_in_order(engine):
    first = example_envelope("order.confirmed")
    x = first.data["order_id"]
    other_event_same_order = example_envelope("order.confirmed", order_id=x)
    y = example_envelope("order.confirmed")
    z_cancelled = example_envelope(
        "order.cancelled", order_id=example_envelope("order.confirmed").data["order_id"]
    )
    z = z_cancelled.data["order_id"]
    z_confirmed_late = example_envelope("order.confirmed", order_id=z)
    batch = [first, first, other_event_same_order, y, z_cancelled, z_confirmed_late]

    handlers.handle_events(engine=engine, envelopes=batch, dispatch_delay_seconds=60)
    handlers.handle_events(engine=engine, envelopes=batch, dispatch_delay_seconds=60)  # redelivered

    statuses = {
        order: [row.status for row in shipment_rows(engine, order)] for order in (x, y.data["order_id"], z)
    }
    assert statuses == {x: ["PENDING"], y.data["order_id"]: ["PENDING"], z: ["CANCELLED"]}
    with engine.connect() as connection:
        handled = set(connection.execute(sa.select(db.inbox.table.c.message_id)).scalars())
    assert handled == {event.id for event in batch}
