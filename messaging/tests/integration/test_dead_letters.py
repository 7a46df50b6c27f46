"""messaging.dead_letters against a real RabbitMQ set up as compose's broker-setup does, as the
service's own user: messages dead-lettered from a service queue (after the delivery limit, or
rejected by the consumer) are listed with their deaths and stay; a replay sends one back to
its queue once, and what would only die again stays dead."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from messaging.dead_letters import (
    BrokerUnavailable,
    DeadLetterNotFound,
    NotReplayable,
    list_dead_letters,
    replay_event,
    replay_queue,
)
from messaging.permissions import BROKER_USERS
from messaging.topology import REPLAY_EXCHANGE
from testsupport.dead_letters import dead_letter, ids_in, purge, take_all
from testsupport.events import example_envelope

QUEUE = "warehouse.orders"
DEAD = "warehouse.orders.dead-letter"
WAREHOUSE_DLQS = BROKER_USERS["warehouse"].dead_letter_queues


@pytest.fixture
def broker(rabbitmq_server) -> Iterator:
    """The session's broker with the warehouse's queues emptied (other tests use them too)."""
    purge(rabbitmq_server.url, QUEUE, DEAD)
    yield rabbitmq_server
    purge(rabbitmq_server.url, QUEUE, DEAD)


def an_event() -> tuple[str, bytes]:
    envelope = example_envelope("order.confirmed")
    return envelope.id, envelope.to_json()


def test_a_dead_letter_is_listed_with_its_death_and_stays(broker):
    event_id, body = an_event()
    before = datetime.now(UTC) - timedelta(seconds=5)  # the broker's clock, in seconds
    dead_letter(broker.url, DEAD, message_id=event_id, body=body)

    for _ in range(25):  # more than RabbitMQ 4.0's default delivery limit of 20: none is dropped
        [letter] = list_dead_letters(broker.user_url("warehouse"), WAREHOUSE_DLQS, limit=100)

    shown = letter.to_json()
    assert {key: shown[key] for key in ("queue", "source_queue", "event_id", "type", "reason")} == {
        "queue": DEAD,
        "source_queue": QUEUE,
        "event_id": event_id,
        "type": "order.confirmed",
        "reason": "delivery_limit",
    }
    assert (shown["death_count"], shown["replayable"], shown["body"]) == (1, True, json.loads(body))
    assert before <= letter.death.first_death_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert ids_in(broker.url, DEAD) == [event_id]


def test_the_listing_stops_at_its_limit(broker):
    for _ in range(3):
        event_id, body = an_event()
        dead_letter(broker.url, DEAD, message_id=event_id, body=body)

    assert len(list_dead_letters(broker.user_url("warehouse"), WAREHOUSE_DLQS, limit=2)) == 2
    assert len(ids_in(broker.url, DEAD)) == 3


def test_a_replay_by_event_id_moves_it_back_to_its_queue_once(broker):
    event_id, body = an_event()
    other_id, other_body = an_event()
    dead_letter(broker.url, DEAD, message_id=event_id, body=body)
    dead_letter(broker.url, DEAD, message_id=other_id, body=other_body)

    done = replay_event(broker.user_url("warehouse"), DEAD, event_id)

    assert (done.replayed, done.kept) == ([event_id], [])
    assert ids_in(broker.url, DEAD) == [other_id]
    [(properties, replayed_body)] = take_all(broker.url, QUEUE)
    assert (properties.message_id, properties.type, replayed_body) == (event_id, "order.confirmed", body)
    assert properties.headers == {"traceparent": "00-kept"}  # no x-death, a fresh delivery count
    with pytest.raises(DeadLetterNotFound):  # gone from the dead letters: not replayed twice
        replay_event(broker.user_url("warehouse"), DEAD, event_id)


def test_a_replay_of_a_queue_sends_back_every_replayable_one_and_leaves_the_malformed(broker):
    events = [an_event() for _ in range(2)]
    for event_id, body in events:
        dead_letter(broker.url, DEAD, message_id=event_id, body=body)
    dead_letter(broker.url, DEAD, message_id="malformed", body=b"{not json", reason="rejected")
    poison_id, poison_body = an_event()
    dead_letter(broker.url, DEAD, message_id=poison_id, body=poison_body, reason="rejected")  # a poison event

    done = replay_queue(broker.user_url("warehouse"), DEAD)
    again = replay_queue(broker.user_url("warehouse"), DEAD)

    assert sorted(done.replayed) == sorted(event_id for event_id, _ in events)
    assert sorted(kept.event_id for kept in done.kept) == sorted(["malformed", poison_id])
    assert (again.replayed, len(again.kept)) == ([], 2)  # no loop: they stay dead
    assert sorted(ids_in(broker.url, DEAD)) == sorted(["malformed", poison_id])
    assert sorted(p.message_id for p, _ in take_all(broker.url, QUEUE)) == sorted(e for e, _ in events)


def test_a_malformed_dead_letter_is_refused_and_stays(broker):
    dead_letter(broker.url, DEAD, message_id="not-an-envelope", body=b'{"hello": 1}')  # died at the limit

    with pytest.raises(NotReplayable) as refused:
        replay_event(broker.user_url("warehouse"), DEAD, "not-an-envelope")

    assert "not an event envelope" in refused.value.why
    assert ids_in(broker.url, DEAD) == ["not-an-envelope"]
    assert ids_in(broker.url, QUEUE) == []


def test_an_unknown_event_id_is_not_found_and_changes_nothing(broker):
    event_id, body = an_event()
    dead_letter(broker.url, DEAD, message_id=event_id, body=body)

    with pytest.raises(DeadLetterNotFound):
        replay_event(broker.user_url("warehouse"), DEAD, str(uuid.uuid4()))
    assert ids_in(broker.url, DEAD) == [event_id]


def test_a_service_user_reads_no_other_services_dead_letters(broker):
    with pytest.raises(BrokerUnavailable, match="ACCESS_REFUSED"):
        list_dead_letters(broker.user_url("notification"), (DEAD,), limit=10)
    with pytest.raises(BrokerUnavailable, match="ACCESS_REFUSED"):
        replay_queue(broker.user_url("order"), DEAD)


@pytest.mark.parametrize(("service", "routing_key", "allowed"), [
    ("warehouse", "warehouse.orders", True),
    ("warehouse", "order.shipments", False),  # into another service's queue: refused
    ("notification", "warehouse.orders", False),
])  # fmt: skip
def test_a_user_replays_only_into_its_own_queues(broker, service, routing_key, allowed):
    with pika.BlockingConnection(pika.URLParameters(broker.user_url(service))) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            channel.basic_publish(REPLAY_EXCHANGE, routing_key, b"{}", mandatory=True)
            outcome = None
        except ChannelClosedByBroker as closed:
            outcome = closed.reply_code
    assert outcome == (None if allowed else 403)
    if allowed:
        assert len(take_all(broker.url, routing_key)) == 1


def test_no_broker_is_broker_unavailable():
    with pytest.raises(BrokerUnavailable):
        list_dead_letters("", WAREHOUSE_DLQS, limit=1)
    with pytest.raises(BrokerUnavailable):
        list_dead_letters("amqp://nobody:nothing@127.0.0.1:1/%2F", WAREHOUSE_DLQS, limit=1)
