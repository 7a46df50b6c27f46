"""Each service's RabbitMQ user may publish only the events it owns and read only its own
queues (messaging.permissions), on a broker set up as compose's broker-setup does."""

from __future__ import annotations

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from messaging.broker import ConfirmedPublisher
from messaging.envelope import new_event
from messaging.permissions import BROKER_USERS
from messaging.topology import EVENTS_EXCHANGE
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
