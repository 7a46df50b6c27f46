"""A pika connection and a publisher that only returns once the broker has the message."""

from __future__ import annotations

import pika

from messaging.envelope import CONTENT_TYPE, Envelope
from messaging.topology import EVENTS_EXCHANGE

PERSISTENT = pika.DeliveryMode.Persistent


def connection_parameters(url: str) -> pika.URLParameters:
    parameters = pika.URLParameters(url)
    # pika serves heartbeats only inside its own calls: keep them short and frequent
    # enough, and never let a blocked broker (memory alarm) hang us forever.
    parameters.heartbeat = 30
    parameters.blocked_connection_timeout = 30
    parameters.socket_timeout = 5
    parameters.connection_attempts = 1
    return parameters


def amqp_properties(envelope: Envelope) -> pika.BasicProperties:
    return pika.BasicProperties(
        message_id=envelope.id,
        type=envelope.type,
        content_type=CONTENT_TYPE,
        correlation_id=envelope.correlationid,
        app_id=envelope.source,
        delivery_mode=PERSISTENT,
    )


class ConfirmedPublisher:
    """One BlockingConnection per process (pika is not thread-safe)."""

    def __init__(self, *, url: str) -> None:
        self._connection = pika.BlockingConnection(connection_parameters(url))
        self._channel = self._connection.channel()
        # No declarations: the topology is made once, by the administrator (messaging.broker_setup),
        # and a service's user may configure only its own queues.
        self._channel.confirm_delivery()

    def publish(self, envelope: Envelope, *, exchange: str = EVENTS_EXCHANGE) -> None:
        """Raises pika.exceptions.UnroutableError / NackError unless the broker took it."""
        self._channel.basic_publish(
            exchange=exchange,
            routing_key=envelope.type,
            body=envelope.to_json(),
            properties=amqp_properties(envelope),
            mandatory=True,
        )

    def process_events(self) -> None:
        """Serve heartbeats while idle."""
        self._connection.process_data_events(time_limit=0)

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()
