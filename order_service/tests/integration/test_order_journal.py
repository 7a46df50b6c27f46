"""The journal: every event on `events` lands in the stream, the indexer records each once
under its order, resumes where it stopped, and GET /orders/{id}/journal answers from it
(a real RabbitMQ with the stream as broker-setup declares it, a real database)."""

from __future__ import annotations

import uuid

import pika
import pytest
import requests

from messaging.broker import ConfirmedPublisher, amqp_properties, connection_parameters
from messaging.envelope import new_event
from messaging.topology import EVENTS_EXCHANGE, JOURNAL_ARGUMENTS, JOURNAL_STREAM
from order_service.journal import journal_indexer
from order_service.tests.integration.test_order_openapi import app_with, on, placed
from testsupport.openapi_fuzz import conforms
from testsupport.polling import wait_until
from testsupport.processes import running_on_a_thread

TRACEPARENT = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"


@pytest.fixture
def broker(rabbitmq_server):
    rabbitmq_server.set_up()  # the topology with the stream, and the users
    return rabbitmq_server


def publish(broker, *envelopes, as_user="order"):
    publisher = ConfirmedPublisher(url=broker.user_url(as_user))
    for envelope in envelopes:
        publisher.publish(envelope)
    publisher.close()


def publish_raw(broker, body: bytes, routing_key: str = "order.confirmed"):
    connection = pika.BlockingConnection(connection_parameters(broker.user_url("order")))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(
        EVENTS_EXCHANGE, routing_key, body, pika.BasicProperties(message_id=str(uuid.uuid4()))
    )
    connection.close()


def traced(broker, envelope):
    """An envelope published with a traceparent header, as a traced relay will send it."""
    connection = pika.BlockingConnection(connection_parameters(broker.user_url("order")))
    channel = connection.channel()
    channel.confirm_delivery()
    properties = amqp_properties(envelope)
    properties.headers = {"traceparent": TRACEPARENT}
    channel.basic_publish(EVENTS_EXCHANGE, envelope.type, envelope.to_json(), properties, mandatory=True)
    connection.close()


def stream_ids(broker) -> list[str]:
    """The message ids the whole stream holds, read from its first offset."""
    connection = pika.BlockingConnection(connection_parameters(broker.url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1000)
    ids = []
    for method, properties, _body in channel.consume(
        JOURNAL_STREAM, arguments={"x-stream-offset": "first"}, inactivity_timeout=1.0
    ):
        if method is None:
            break
        ids.append(properties.message_id)
        channel.basic_ack(method.delivery_tag)
    connection.close()
    return ids


def running(engine, broker):
    """An indexer on a thread, stopped on exit."""
    return running_on_a_thread(
        journal_indexer(engine=engine, broker_url=broker.user_url("order"), idle_seconds=0.1)
    )


def test_every_event_of_an_order_is_indexed_once_oldest_first_and_served(engine, broker):
    app = app_with(engine)
    order = placed(app, f"k-{uuid.uuid4()}", 201)
    confirmed = new_event(type="order.confirmed", source="order-service", subject=order["id"], data={})
    dispatched = new_event(
        type="shipment.dispatched", source="warehouse-service", data={"order_id": order["id"]}
    )
    other = new_event(type="order.confirmed", source="order-service", subject=str(uuid.uuid4()), data={})
    publish(broker, confirmed, other)
    traced(broker, confirmed)  # published twice (at-least-once): recorded once
    publish(broker, dispatched, as_user="warehouse")
    publish_raw(broker, b"not an event")  # in the stream, not in the index

    with running(engine, broker):
        wait_until(
            lambda: (
                len(conforms(app, "GET", "/orders/{order_id}/journal", **on(order["id"])).json()["events"])
                == 2
            ),
            timeout=30,
            what="both events of the order indexed",
        )
        journal = conforms(app, "GET", "/orders/{order_id}/journal", **on(order["id"])).json()

    assert journal["order_id"] == order["id"]
    assert [(e["type"], e["producer"], e["event_id"]) for e in journal["events"]] == [
        ("order.confirmed", "order-service", confirmed.id),
        ("shipment.dispatched", "warehouse-service", dispatched.id),
    ]
    assert journal["events"][0]["trace_id"] is None  # its first copy came without a traceparent
    assert conforms(app, "GET", "/orders/{order_id}/journal", **on("no-such-order")).status_code == 404


def test_the_indexer_resumes_after_what_it_recorded_and_reads_the_trace_id(engine, broker):
    app = app_with(engine)
    order = placed(app, f"k-{uuid.uuid4()}", 201)
    first = new_event(type="order.confirmed", source="order-service", subject=order["id"], data={})
    publish(broker, first)
    with running(engine, broker):
        wait_until(lambda: journal_ids(app, order) == [first.id], timeout=30, what="the first indexed")

    later = new_event(type="order.cancelled", source="order-service", subject=order["id"], data={})
    traced(broker, later)
    with running(engine, broker) as indexer:
        delivered = []
        record = indexer.follow_batch
        indexer.follow_batch = lambda: delivered.append(count := record()) or count
        wait_until(lambda: journal_ids(app, order) == [first.id, later.id], timeout=30, what="the later one")

    events = conforms(app, "GET", "/orders/{order_id}/journal", **on(order["id"])).json()["events"]
    assert events[1]["trace_id"] == "ab" * 16
    # It read from where it stopped, not the whole stream again.
    assert sum(delivered) < len(stream_ids(broker))


def journal_ids(app, order) -> list[str]:
    response = conforms(app, "GET", "/orders/{order_id}/journal", **on(order["id"]))
    return [event["event_id"] for event in response.json()["events"]]


def test_the_stream_takes_every_event_a_producer_may_publish_and_is_retained(broker):
    """Bound to every key of `events`: an event no consumer's queue takes is in it too."""
    nobody = new_event(type="order.nobody-listens", source="order-service", data={})
    publish(broker, nobody)

    assert nobody.id in stream_ids(broker)
    queue = requests.get(
        f"{broker.management_url}/api/queues/%2F/{JOURNAL_STREAM}", auth=("test", "test"), timeout=10
    )
    assert queue.json()["arguments"] == JOURNAL_ARGUMENTS  # retention by age and by size
