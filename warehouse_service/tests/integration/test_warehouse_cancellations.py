"""order.cancelled against a real PostgreSQL: a shipment not dispatched yet never will be."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import sqlalchemy as sa

from messaging.credentials import ORDER_SERVICE
from messaging.envelope import Envelope
from testsupport.callers import TEST_CALLERS, bearer
from testsupport.events import example_envelope
from warehouse_service import db, handlers
from warehouse_service.api import create_app
from warehouse_service.config import Settings


def shipment_of(engine: sa.Engine, order_id: str) -> sa.Row:
    with engine.connect() as connection:
        [row] = connection.execute(sa.select(db.shipments).where(db.shipments.c.order_id == order_id)).all()
        return row


def dispatched_events(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        envelopes = connection.execute(sa.select(db.outbox.table.c.envelope)).scalars()
        return [envelope["data"]["order_id"] for envelope in envelopes]


def confirm(engine: sa.Engine, order_id: str, *, delay: float = 0) -> None:
    envelope = example_envelope("order.confirmed", order_id=order_id)
    handlers.handle_events(engine=engine, envelopes=[envelope], dispatch_delay_seconds=delay)


def cancel(engine: sa.Engine, order_id: str, *, envelope: Envelope | None = None) -> sa.Row:
    """An order.cancelled through the consumer's handler; returns the order's shipment after it."""
    envelope = envelope or example_envelope("order.cancelled", order_id=order_id)
    handlers.handle_events(engine=engine, envelopes=[envelope], dispatch_delay_seconds=0)
    return shipment_of(engine, order_id)


def test_a_pending_shipment_is_cancelled_and_never_dispatched(engine):
    confirm(engine, "o-pending")

    cancelled = cancel(engine, "o-pending")
    assert (cancelled.status, len(cancelled.items)) == ("CANCELLED", 2)  # the shipment itself, stopped
    assert handlers.dispatch_due_shipments(engine=engine) == 0

    shipment = shipment_of(engine, "o-pending")
    assert (shipment.status, shipment.dispatched_at) == ("CANCELLED", None)
    assert shipment.cancelled_at is not None
    assert dispatched_events(engine) == []


def test_a_dispatched_shipment_stays_dispatched(engine):
    confirm(engine, "o-gone")
    assert handlers.dispatch_due_shipments(engine=engine) == 1

    shipment = cancel(engine, "o-gone")  # too late

    assert (shipment.status, shipment.cancelled_at) == ("DISPATCHED", None)
    assert dispatched_events(engine) == ["o-gone"]


def test_a_cancel_before_the_confirmation_leaves_a_tombstone_the_confirmation_cannot_revive(engine):
    tombstone = cancel(engine, "o-early")
    assert (tombstone.status, tombstone.items, tombstone.email) == ("CANCELLED", [], "ada@example.com")

    confirm(engine, "o-early")  # the late order.confirmed
    assert handlers.dispatch_due_shipments(engine=engine) == 0

    assert shipment_of(engine, "o-early") == tombstone  # the only shipment, unchanged
    assert dispatched_events(engine) == []


def test_the_same_cancel_twice_is_handled_once_and_another_one_changes_nothing(engine):
    confirm(engine, "o-twice", delay=3600)
    envelope = example_envelope("order.cancelled", order_id="o-twice")

    first = cancel(engine, "o-twice", envelope=envelope)
    redelivered = cancel(engine, "o-twice", envelope=envelope)
    another = cancel(engine, "o-twice")

    assert (first.status, len(first.items)) == ("CANCELLED", 2)
    assert redelivered == another == first  # cancelled_at included: cancelled once
    with engine.connect() as connection:
        handled = connection.execute(
            sa.select(sa.func.count()).where(db.inbox.table.c.event_type == "order.cancelled")
        ).scalar_one()
    assert handled == 2


def run_together(*calls: Callable[[], object]) -> list[BaseException]:
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            start.wait(timeout=10)
            call()
        except BaseException as error:  # noqa: BLE001 - surfaced by the caller's assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_a_cancel_racing_its_confirmation_always_wins(engine):
    orders = [str(uuid.uuid4()) for _ in range(20)]
    for order_id in orders:
        errors = run_together(lambda o=order_id: confirm(engine, o), lambda o=order_id: cancel(engine, o))
        assert errors == []

    assert {shipment_of(engine, order_id).status for order_id in orders} == {"CANCELLED"}
    assert handlers.dispatch_due_shipments(engine=engine) == 0


def test_cancels_racing_the_dispatcher_either_stop_a_shipment_or_leave_it_dispatched(engine):
    orders = [str(uuid.uuid4()) for _ in range(40)]
    for order_id in orders:
        confirm(engine, order_id)

    def dispatch_all() -> None:
        while handlers.dispatch_due_shipments(engine=engine, limit=1):
            pass

    def cancel_all() -> None:
        # From the newest: the dispatcher starts from the oldest, so the two meet on the way.
        for order_id in reversed(orders):
            cancel(engine, order_id)

    assert run_together(dispatch_all, cancel_all) == []
    dispatch_all()

    statuses = {order_id: shipment_of(engine, order_id).status for order_id in orders}
    assert set(statuses.values()) <= {"CANCELLED", "DISPATCHED"}
    events = dispatched_events(engine)
    assert sorted(events) == sorted(o for o, status in statuses.items() if status == "DISPATCHED")


def cancel_over_http(client, order_id: str):
    return client.post(
        f"/shipments/{order_id}/cancel",
        headers={"Idempotency-Key": f"cancel:{order_id}", **bearer(ORDER_SERVICE)},
    )


def test_the_order_service_can_cancel_a_pending_shipment_synchronously(engine):
    client = create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine).test_client()
    confirm(engine, "o-sync", delay=3600)

    first = cancel_over_http(client, "o-sync")
    again = cancel_over_http(client, "o-sync")

    assert first.status_code == 200
    assert (first.json["order_id"], first.json["status"]) == ("o-sync", "CANCELLED")
    assert first.json["cancelled_at"] is not None
    assert (again.status_code, again.json) == (200, first.json)
    # The order.cancelled that follows finds the work done.
    assert cancel(engine, "o-sync").cancelled_at.isoformat() == first.json["cancelled_at"]


def test_a_synchronous_cancel_before_the_confirmation_blocks_the_shipment(engine):
    client = create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine).test_client()

    response = cancel_over_http(client, "o-sync-early")

    assert (response.status_code, response.json["status"], response.json["items"]) == (200, "CANCELLED", [])
    confirm(engine, "o-sync-early")
    blocked = shipment_of(engine, "o-sync-early")
    assert (blocked.status, blocked.items) == ("CANCELLED", [])
    assert handlers.dispatch_due_shipments(engine=engine) == 0


def test_a_synchronous_cancel_after_dispatch_is_a_409_and_changes_nothing(engine):
    client = create_app(Settings(database_url="unused", callers=TEST_CALLERS), engine=engine).test_client()
    confirm(engine, "o-sync-gone")
    handlers.dispatch_due_shipments(engine=engine)

    response = cancel_over_http(client, "o-sync-gone")

    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "shipment-dispatched"
    assert response.json["shipment"]["status"] == "DISPATCHED"
    assert shipment_of(engine, "o-sync-gone").status == "DISPATCHED"
