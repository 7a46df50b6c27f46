"""Orders whose saga stopped (a crash, an unknown outcome, a dependency down) are finished
or compensated by the sweeper; nothing stays in flight forever, nothing is charged twice."""

from __future__ import annotations

import pytest

from order_service import handlers
from order_service.api import answer_place_order
from order_service.tests.integration.fakes import Crash, FakeInventory, FakePayment
from order_service.tests.integration.support import (
    make_deps,
    make_due,
    order_body,
    outbox_events,
    transitions,
)
from testsupport.polling import wait_until


def status_of(engine, order_id):
    return handlers.get_order(engine=engine, order_id=order_id).status


def only_order_id(engine):
    [order] = handlers.list_orders(engine=engine, customer_id="c-1", status=None, limit=5, cursor=None).orders
    return order.id


def test_a_crash_after_reserve_is_finished_by_the_sweeper(engine):
    with pytest.raises(Crash):
        answer_place_order(
            deps=make_deps(engine, payment=FakePayment(crash=True)), idempotency_key="k", body=order_body()
        )
    order_id = only_order_id(engine)
    assert status_of(engine, order_id) == "RESERVED"
    inventory, payment = FakeInventory(), FakePayment()
    deps = make_deps(engine, inventory=inventory, payment=payment)

    assert handlers.recover_orders(deps=deps) == 0  # still held for the request that owned it
    make_due(engine, order_id)
    assert handlers.recover_orders(deps=deps) == 1

    assert status_of(engine, order_id) == "CONFIRMED"
    assert len(payment.charges) == 1 and inventory.calls == [("commit", order_id)]
    assert [e["type"] for e in outbox_events(engine)] == ["order.confirmed"]
    assert handlers.recover_orders(deps=deps) == 0  # nothing left to do


def test_a_replay_of_a_crashed_request_shows_the_order_where_it_is(engine):
    with pytest.raises(Crash):
        answer_place_order(
            deps=make_deps(engine, payment=FakePayment(crash=True)), idempotency_key="k", body=order_body()
        )

    replay = answer_place_order(deps=make_deps(engine), idempotency_key="k", body=order_body())

    assert (replay.status, replay.body["status"]) == (202, "RESERVED")


def test_an_unknown_charge_is_looked_up_not_guessed(engine):
    inventory = FakeInventory()
    reply = answer_place_order(
        deps=make_deps(engine, inventory=inventory, payment=FakePayment(down=True, maybe_applied=True)),
        idempotency_key="k",
        body=order_body(),
    )
    assert (reply.status, reply.body["status"]) == (202, "PAYMENT_PENDING")
    assert ("release", reply.order_id) not in inventory.calls

    found = FakePayment(recorded=FakePayment().charge())  # the payment service has it: CAPTURED
    deps = make_deps(engine, inventory=inventory, payment=found)
    wait_until(
        lambda: handlers.recover_orders(deps=deps) and status_of(engine, reply.order_id) == "CONFIRMED",
        timeout=10,
        what="the lookup to confirm the order",
    )
    assert found.charges == []  # looked up, not charged again
    assert transitions(engine, reply.order_id) == ["PENDING", "RESERVED", "PAYMENT_PENDING", "CONFIRMED"]


def test_an_unknown_charge_that_never_arrived_is_made_once_with_the_same_key(engine):
    reply = answer_place_order(
        deps=make_deps(engine, payment=FakePayment(down=True, maybe_applied=True)),
        idempotency_key="k",
        body=order_body(),
    )
    declining = FakePayment(decline=True, recorded=None)
    deps = make_deps(engine, payment=declining)

    wait_until(
        lambda: handlers.recover_orders(deps=deps) and status_of(engine, reply.order_id) == "FAILED",
        timeout=10,
        what="the order to resolve",
    )
    assert [c["order_id"] for c in declining.charges] == [reply.order_id]


def test_a_hold_that_expired_before_the_capture_is_refunded(engine):
    payment = FakePayment()

    reply = answer_place_order(
        deps=make_deps(
            engine, inventory=FakeInventory(commit_refused="reservation-released"), payment=payment
        ),
        idempotency_key="k",
        body=order_body(),
    )

    assert (reply.body["status"], reply.body["failure_reason"]) == ("FAILED", "reservation_expired")
    assert payment.calls == [("refund", reply.order_id)]
    timeline = handlers.order_timeline(engine=engine, order_id=reply.order_id)
    assert timeline.order.payment_settled is True


def test_a_release_that_failed_is_retried_until_it_succeeds(engine):
    down = FakeInventory()
    reply = answer_place_order(
        deps=make_deps(engine, inventory=down, payment=FakePayment(decline=True)),
        idempotency_key="k",
        body=order_body(),
    )
    assert reply.body["status"] == "FAILED"
    down.down = True  # inventory dies before the release gets through
    handlers.recover_orders(deps=make_deps(engine, inventory=down))  # not due yet: nothing happens

    inventory = FakeInventory()
    make_due(engine, reply.order_id)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE orders SET stock_settled = false")
    handlers.recover_orders(deps=make_deps(engine, inventory=inventory))

    assert inventory.calls == [("release", reply.order_id)]
    assert handlers.order_timeline(engine=engine, order_id=reply.order_id).order.stock_settled is True
