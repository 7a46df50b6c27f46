"""Cancellation before dispatch: refund, restock, order.cancelled; refused after dispatch."""

from __future__ import annotations

import pytest

from contracts.schemas import validate_event
from order_service import handlers
from order_service.api import answer_place_order
from order_service.domain import OrderAlreadyShipped, OrderNotCancellable
from order_service.tests.integration.fakes import FakeInventory, FakePayment, FakeWarehouse
from order_service.tests.integration.support import make_deps, order_body, outbox_events


def confirmed_order(engine):
    return answer_place_order(deps=make_deps(engine), idempotency_key="k", body=order_body()).order_id


def test_cancel_refunds_restocks_and_announces_it_once(engine):
    order_id = confirmed_order(engine)
    inventory, payment, warehouse = FakeInventory(), FakePayment(), FakeWarehouse()
    deps = make_deps(engine, inventory=inventory, payment=payment, warehouse=warehouse)

    cancelled = handlers.cancel_order(deps=deps, order_id=order_id)
    again = handlers.cancel_order(deps=deps, order_id=order_id)

    assert cancelled.status == again.status == "CANCELLED"
    assert warehouse.calls == [order_id]
    assert inventory.calls == [("restock", order_id)]
    assert payment.calls == [("refund", order_id)]
    events = [e for e in outbox_events(engine) if e["type"] == "order.cancelled"]
    assert len(events) == 1
    validate_event(events[0])


def test_cancel_after_dispatch_is_refused_and_changes_nothing(engine):
    order_id = confirmed_order(engine)
    payment = FakePayment()

    with pytest.raises(OrderAlreadyShipped):
        handlers.cancel_order(
            deps=make_deps(engine, payment=payment, warehouse=FakeWarehouse(dispatched=True)),
            order_id=order_id,
        )

    assert handlers.get_order(engine=engine, order_id=order_id).status == "CONFIRMED"
    assert payment.calls == []


def test_only_confirmed_orders_can_be_cancelled(engine):
    failed = answer_place_order(
        deps=make_deps(engine, payment=FakePayment(decline=True)), idempotency_key="k2", body=order_body()
    )

    with pytest.raises(OrderNotCancellable):
        handlers.cancel_order(deps=make_deps(engine), order_id=failed.order_id)
