"""Each service's RabbitMQ user may publish only the events it owns and read only its own
queues (messaging.permissions), on a broker set up as compose's broker-setup does."""

from __future__ import annotations

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from messaging.broker import ConfirmedPublisher
from messaging.envelope import new_event
from messaging.permissions import BROKER_USERS
from messaging.topology import CATALOG_STREAM, EVENTS_EXCHANGE, JOURNAL_STREAM
from testsupport.events import example_envelope

ACCESS_REFUSED = 403


def publish(broker, service: str, event_type: str) -> None:
    publisher = ConfirmedPublisher(url=broker.user_url(service))
    try:
        envelope = example_envelope(event_type)
        publisher.publish(new_event(type=event_type, source=f"{service}_service", data=envelope.data))
    finally:
        publisher.close()


def refused(action) -> int | None:
    """The broker's reply code when it closes the channel over `action`, None when it allows it."""
    try:
        action()
    except ChannelClosedByBroker as closed:
        return closed.reply_code
    return None


@pytest.mark.parametrize(
    ("service", "event_type", "allowed"),
    [
        ("order", "order.confirmed", True),
        ("warehouse", "shipment.dispatched", True),
        ("warehouse", "order.confirmed", False),  # the single-writer rule, enforced by the broker
        ("order", "shipment.dispatched", False),
        ("notification", "order.confirmed", False),
        ("notification", "notification.sent", True),
        ("order", "notification.sent", False),
        ("inventory", "product.changed", True),  # the catalog's single writer
        ("inventory", "product.snapshot", True),
        ("inventory", "order.confirmed", False),
        ("order", "product.changed", False),
        ("warehouse", "product.removed", False),
    ],
)
def test_a_service_publishes_only_the_events_it_owns(rabbitmq_server, service, event_type, allowed):
    outcome = refused(lambda: publish(rabbitmq_server, service, event_type))
    assert outcome == (None if allowed else ACCESS_REFUSED)


def with_channel(broker, service: str, use) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(broker.user_url(service)))
    try:
        use(connection.channel())
    finally:
        if connection.is_open:
            connection.close()


@pytest.mark.parametrize("service", sorted(BROKER_USERS))
def test_a_service_reads_its_own_queues_and_no_other(rabbitmq_server, service):
    for user in BROKER_USERS.values():
        for queue in user.queues:
            outcome = refused(
                lambda queue=queue: with_channel(
                    rabbitmq_server, service, lambda channel: channel.basic_get(queue, auto_ack=False)
                )
            )
            assert outcome == (None if user.service == service else ACCESS_REFUSED), (service, queue)


@pytest.mark.parametrize("service", sorted(BROKER_USERS))
def test_a_service_configures_nothing_it_does_not_own(rabbitmq_server, service):
    other = next(user for user in BROKER_USERS.values() if user.service != service)
    declarations = {
        "the events exchange": lambda channel: channel.exchange_declare(
            EVENTS_EXCHANGE, "topic", durable=True
        ),
        "another's queue": lambda channel: channel.queue_declare(
            other.queues[0], passive=False, durable=True
        ),
        "a queue of no one": lambda channel: channel.queue_declare("spy", durable=True),
    }
    outcomes = {
        what: refused(lambda d=declare: with_channel(rabbitmq_server, service, d))
        for what, declare in declarations.items()
    }
    assert outcomes == dict.fromkeys(declarations, ACCESS_REFUSED)


def read_stream(channel, stream: str) -> None:
    # A stream is read by consuming it with a prefetch and an offset: read permission is
    # checked at basic.consume.
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(stream, lambda *_: None, auto_ack=False, arguments={"x-stream-offset": "first"})


@pytest.mark.parametrize("service", sorted(BROKER_USERS))
def test_only_the_order_service_reads_the_streams(rabbitmq_server, service):
    outcomes = {
        stream: refused(
            lambda stream=stream: with_channel(rabbitmq_server, service, lambda c: read_stream(c, stream))
        )
        for stream in (JOURNAL_STREAM, CATALOG_STREAM)
    }
    expected = None if service == "order" else ACCESS_REFUSED
    assert outcomes == dict.fromkeys((JOURNAL_STREAM, CATALOG_STREAM), expected)
