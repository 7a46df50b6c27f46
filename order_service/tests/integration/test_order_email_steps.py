"""Emails sent (`notification.sent`, from order.notifications) as steps of their orders'
timelines, against a real PostgreSQL: numbered after the order's transitions, announced as
`order.step`, once per event."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa

from contracts import validate_event
from messaging.envelope import Envelope, PoisonEvent, trace_id_of
from order_service import db, handlers
from order_service.api import answer_place_order
from order_service.tests.integration.support import make_deps, order_body, outbox_events
from testsupport.events import example_envelope

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def place(engine) -> str:
    """A confirmed order: steps 1, 2, 3 (placed, reserved, confirmed)."""
    key = str(uuid.uuid4())
    return answer_place_order(deps=make_deps(engine), idempotency_key=key, body=order_body()).order_id


def email_sent(order_id: str, kind: str = "order_confirmed", /, **changes) -> Envelope:
    envelope = example_envelope("notification.sent", order_id=order_id)
    envelope.data["kind"] = kind
    envelope.data.update(changes)
    return envelope


def steps(engine, order_id: str) -> list[tuple[int, str, str]]:
    with engine.connect() as connection:
        return [(s.seq, s.kind, s.status) for s in db.steps_of(connection, order_id=order_id)]


def inbox_count(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(db.notifications_inbox.table))


def step_events(engine, order_id: str) -> list[dict]:
    """The order's `order.step` events in the outbox, oldest first, each checked against its contract."""
    events = [
        event
        for event in outbox_events(engine, steps=True)
        if event["type"] == "order.step" and event["subject"] == order_id
    ]
    for event in events:
        validate_event(event)
    return events


def test_emails_sent_are_the_orders_next_steps_announced_in_the_outbox(engine):
    order_id = place(engine)
    confirmed = email_sent(order_id)
    shipped = email_sent(order_id, "order_shipped", sent_at="2025-01-15T10:30:03.250000+00:00")

    handlers.record_emails_sent(engine=engine, envelopes=[confirmed, shipped])

    assert steps(engine, order_id) == [
        (1, "placed", "PENDING"), (2, "reserved", "RESERVED"), (3, "confirmed", "CONFIRMED"),
        (4, "email.order_confirmed", "CONFIRMED"), (5, "email.order_shipped", "CONFIRMED"),
    ]  # fmt: skip
    announced = step_events(engine, order_id)[3:]
    assert [event["data"] for event in announced] == [
        {"order_id": order_id, "seq": 4, "kind": "email.order_confirmed", "status": "CONFIRMED",
         "at": "2025-01-15T10:30:00.388512+00:00"},
        {"order_id": order_id, "seq": 5, "kind": "email.order_shipped", "status": "CONFIRMED",
         "at": "2025-01-15T10:30:03.250000+00:00"},
    ]  # fmt: skip


def test_a_redelivered_email_sent_is_no_second_step(engine):
    order_id = place(engine)
    event = email_sent(order_id)

    handlers.record_emails_sent(engine=engine, envelopes=[event, event])  # twice in one batch
    handlers.record_emails_sent(engine=engine, envelopes=[event])  # and redelivered

    assert steps(engine, order_id)[3:] == [(4, "email.order_confirmed", "CONFIRMED")]
    assert len(step_events(engine, order_id)) == 4


def test_a_batch_numbers_each_orders_emails_on_its_own(engine):
    first, second = place(engine), place(engine)
    batch = [email_sent(second), email_sent(first), email_sent(second, "order_shipped")]

    handlers.record_emails_sent(engine=engine, envelopes=batch)

    assert steps(engine, first)[3:] == [(4, "email.order_confirmed", "CONFIRMED")]
    assert steps(engine, second)[3:] == [
        (4, "email.order_confirmed", "CONFIRMED"), (5, "email.order_shipped", "CONFIRMED")
    ]  # fmt: skip


def test_the_step_continues_the_trace_of_the_email(engine):
    order_id = place(engine)
    event = replace(email_sent(order_id), traceparent=TRACEPARENT)

    handlers.record_emails_sent(engine=engine, envelopes=[event])

    [step] = step_events(engine, order_id)[3:]
    assert trace_id_of(step.get("traceparent")) == trace_id_of(TRACEPARENT)


def test_a_batch_with_an_unknown_order_is_poison_and_changes_nothing(engine):
    order_id = place(engine)
    known, unknown = email_sent(order_id), email_sent(str(uuid.uuid4()))

    with pytest.raises(PoisonEvent, match="unknown order"):
        handlers.record_emails_sent(engine=engine, envelopes=[known, unknown])

    assert len(steps(engine, order_id)) == 3
    assert inbox_count(engine) == 0  # rolled back: the retry of `known` is its first delivery
    handlers.record_emails_sent(engine=engine, envelopes=[known])  # the step's one-by-one retry
    assert len(steps(engine, order_id)) == 4


def test_other_event_types_are_ignored(engine):
    order_id = place(engine)
    handlers.record_emails_sent(
        engine=engine, envelopes=[example_envelope("order.confirmed", order_id=order_id)]
    )
    assert len(steps(engine, order_id)) == 3
