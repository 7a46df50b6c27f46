"""db.transition, the state machine's guard, against a real PostgreSQL: one statement that
locks, checks the source status, moves and records; it must refuse what the machine refuses,
also when two transitions race for the same order."""

from __future__ import annotations

import threading
import uuid

import pytest

from order_service import db
from order_service.domain import IllegalTransition, OrderNotFound, OrderStatus


def new_order(engine, status: str = OrderStatus.PENDING) -> str:
    order_id = str(uuid.uuid4())
    with engine.begin() as connection:
        db.insert_order(
            connection,
            idempotency_key=order_id,
            fingerprint="f",
            order_id=order_id,
            customer_id="c-1",
            email="ada@example.test",
            status=status,
            items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": None}],
            currency="EUR",
            payment_token="tok_visa",
            cause="test",
            hold_seconds=0,
        )
    return order_id


def timeline(engine, order_id: str) -> list[tuple]:
    with engine.connect() as connection:
        return [
            (t.from_status, t.to_status, t.cause) for t in db.transitions_of(connection, order_id=order_id)
        ]


def test_a_transition_moves_the_order_and_records_where_it_came_from(engine):
    order_id = new_order(engine)
    with engine.begin() as connection:
        moved = db.transition(
            connection, order_id=order_id, target=OrderStatus.RESERVED, cause="reserve: reserved",
            hold_seconds=10, total_cents=1299,
        )  # fmt: skip
    assert (moved.id, moved.status, moved.total_cents) == (order_id, "RESERVED", 1299)
    assert moved.next_attempt_at > moved.updated_at  # held for the live request
    assert timeline(engine, order_id) == [
        (None, "PENDING", "test"),
        ("PENDING", "RESERVED", "reserve: reserved"),
    ]


def test_an_illegal_transition_raises_and_changes_nothing(engine):
    order_id = new_order(engine)
    with pytest.raises(IllegalTransition) as raised, engine.begin() as connection:
        db.transition(connection, order_id=order_id, target=OrderStatus.SHIPPED, cause="x", hold_seconds=0)
    assert (raised.value.current, raised.value.target) == ("PENDING", "SHIPPED")
    with engine.connect() as connection:
        assert db.get_order(connection, order_id=order_id).status == "PENDING"
    assert timeline(engine, order_id) == [(None, "PENDING", "test")]


def test_an_unknown_order_is_not_found(engine):
    with pytest.raises(OrderNotFound), engine.begin() as connection:
        db.transition(connection, order_id=str(uuid.uuid4()), target="RESERVED", cause="x", hold_seconds=0)


def test_of_two_racing_transitions_the_second_sees_the_first_and_is_refused(engine):
    order_id = new_order(engine)
    first = engine.connect()
    first.begin()
    db.transition(first, order_id=order_id, target=OrderStatus.RESERVED, cause="first", hold_seconds=0)
    outcome: dict[str, object] = {}

    def second() -> None:  # blocks on the row lock until the first commits
        try:
            with engine.begin() as connection:
                db.transition(
                    connection, order_id=order_id, target=OrderStatus.REJECTED, cause="second", hold_seconds=0
                )
            outcome["result"] = "moved"
        except IllegalTransition as error:
            outcome["result"] = error.current

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(timeout=1.0)
    assert racer.is_alive()  # waiting on the lock, not deciding on the stale PENDING
    first.commit()
    first.close()
    racer.join(timeout=10)

    assert outcome == {"result": "RESERVED"}
    assert timeline(engine, order_id) == [(None, "PENDING", "test"), ("PENDING", "RESERVED", "first")]


def test_a_racing_transition_that_is_still_legal_moves_from_the_new_status(engine):
    order_id = new_order(engine, OrderStatus.RESERVED)
    first = engine.connect()
    first.begin()
    db.transition(
        first, order_id=order_id, target=OrderStatus.PAYMENT_PENDING, cause="unknown", hold_seconds=0
    )
    racer = threading.Thread(
        target=lambda: _transition(engine, order_id, OrderStatus.CONFIRMED, "captured"),
    )
    racer.start()
    racer.join(timeout=1.0)
    first.commit()
    first.close()
    racer.join(timeout=10)

    assert timeline(engine, order_id)[1:] == [
        ("RESERVED", "PAYMENT_PENDING", "unknown"),
        ("PAYMENT_PENDING", "CONFIRMED", "captured"),
    ]


def _transition(engine, order_id: str, target: str, cause: str) -> None:
    with engine.begin() as connection:
        db.transition(connection, order_id=order_id, target=target, cause=cause, hold_seconds=0)
