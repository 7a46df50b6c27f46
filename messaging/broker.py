"""A pika connection and a publisher that only returns once the broker has the message."""

from __future__ import annotations

import time
from collections.abc import Callable

import pika
import pika.exceptions

from messaging.envelope import CONTENT_TYPE, Envelope
from messaging.topology import (
    CATALOG_EVENTS,
    CATALOG_STREAM,
    EVENT_QUEUES,
    EVENTS_EXCHANGE,
    JOURNAL_STREAM,
    LIVE_EVENTS,
)
from messaging.tracing import TRACEPARENT

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


def amqp_properties(envelope: Envelope, *, traceparent: str | None = None) -> pika.BasicProperties:
    """`traceparent`: the publishing span's (the relay's); else the envelope's own (a replay)."""
    traceparent = traceparent or envelope.traceparent
    return pika.BasicProperties(
        message_id=envelope.id,
        type=envelope.type,
        content_type=CONTENT_TYPE,
        correlation_id=envelope.correlationid,
        app_id=envelope.source,
        delivery_mode=PERSISTENT,
        headers={TRACEPARENT: traceparent} if traceparent else None,
    )


class ConfirmedPublisher:
    """One BlockingConnection per process (pika is not thread-safe)."""

    def __init__(self, *, url: str) -> None:
        self._connection = pika.BlockingConnection(connection_parameters(url))
        self._channel = self._connection.channel()
        # No declarations: the topology is made once, by the administrator (messaging.broker_setup),
        # and a service's user may configure only its own queues.
        self._channel.confirm_delivery()

    def publish(
        self, envelope: Envelope, *, exchange: str = EVENTS_EXCHANGE, traceparent: str | None = None
    ) -> None:
        """Raises pika.exceptions.UnroutableError / NackError unless the broker took it.
        `traceparent`: the AMQP header consumers continue (see amqp_properties)."""
        self._channel.basic_publish(
            exchange=exchange,
            routing_key=envelope.type,
            body=envelope.to_json(),
            properties=amqp_properties(envelope, traceparent=traceparent),
            mandatory=True,
        )

    def queue_exists(self, name: str) -> bool:
        """A passive declare (it needs no permission) on a channel of its own: the broker
        closes the channel that asks for a queue it does not have."""
        channel = self._connection.channel()
        try:
            channel.queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code == 404:
                return False
            raise
        channel.close()
        return True

    def process_events(self) -> None:
        """Serve heartbeats while idle."""
        self._connection.process_data_events(time_limit=0)

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()


class RouteCheck:
    """Whether an event has somewhere to go, now that `mandatory` cannot say.

    The journal stream is bound to every routing key of `events` (messaging.topology), so the
    broker routes any event and a publish with `mandatory` no longer comes back when a
    consumer's queue is missing. What it told us is asked of the topology instead: an event
    type must be taken by some queue of EVENT_QUEUES (a live event, LIVE_EVENTS: by the
    journal), and each of those queues must exist (a passive declare, asked again at most
    every `every_seconds`: broker-setup declares them at boot, and a queue deleted since is
    noticed within that time). `missing` names what is wrong, or None."""

    def __init__(self, *, every_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_seconds = every_seconds
        self.clock = clock
        self._seen: dict[str, float] = {}  # queue -> when it was last found

    def missing(self, publisher: ConfirmedPublisher, event_type: str) -> str | None:
        queues = [name for name, spec in EVENT_QUEUES.items() if event_type in spec.routing_keys]
        if event_type in LIVE_EVENTS:  # no durable queue but the journal: it must be there
            queues = [JOURNAL_STREAM]
        if event_type in CATALOG_EVENTS:  # read from the catalog stream, by offset
            queues = [CATALOG_STREAM]
        if not queues:
            return f"no queue of the topology takes {event_type}"
        now = self.clock()
        for name in queues:
            if now - self._seen.get(name, float("-inf")) < self.every_seconds:
                continue
            if not publisher.queue_exists(name):
                self._seen.pop(name, None)
                return f"queue {name} (which takes {event_type}) does not exist"
            self._seen[name] = now
        return None
