"""Every exchange, queue and binding of the pipeline, defined once.

broker-setup declares them all with pika (messaging.broker_setup); kombu (Celery workers)
declares a service's own queues from the same definitions, so a queue is always declared
with the same arguments (a mismatch would be a 406).
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue, binding

EVENTS_EXCHANGE = "events"  # topic exchange; routing key = event type
DEAD_LETTER_EXCHANGE = "dead-letter"  # direct; routing key = the dead-letter queue's name
TASKS_EXCHANGE = "tasks"  # topic (Celery native delayed delivery needs it); routing key = queue name
# Topic; routing key = a queue's own name, to which every queue is bound: how a dead letter goes
# back to the one queue it died in (messaging.dead_letters). Not the default exchange: write on
# that would let a user publish into any queue, while a topic exchange's routing keys are
# limited per user by topic permissions (messaging.permissions).
REPLAY_EXCHANGE = "replay"
DELIVERY_LIMIT = 10  # redeliveries before a message is dead-lettered

# The journal: every event on `events`, kept in a stream (append-only, read by offset, never
# consumed away) as the system's retained narrative. Retention is by age and by size,
# whichever comes first, a segment at a time (so a segment of 100 MB, not the default 500 MB,
# or nothing would ever be dropped on a small stack). order_service/journal.py indexes it.
JOURNAL_STREAM = "journal"
JOURNAL_ARGUMENTS = {
    "x-queue-type": "stream",
    "x-max-age": "7D",
    "x-max-length-bytes": 2_000_000_000,
    "x-stream-max-segment-size-bytes": 100_000_000,
}


# The catalog: the inventory's product events (each carries a product's whole state and version),
# kept in a stream of their own, so that a new copy (order_service/catalog.py) is built by
# reading it from its start, then follows it: history and live feed from one offset, no gap.
# Retention is safe because the inventory publishes a `product.snapshot` of every product at
# least every CATALOG_SNAPSHOT_SECONDS (a day), well within x-max-age: whatever was dropped, the
# retained part holds every product's latest state.
CATALOG_STREAM = "catalog"
CATALOG_EVENTS = frozenset({"product.created", "product.changed", "product.removed", "product.snapshot"})
CATALOG_ARGUMENTS = {
    "x-queue-type": "stream",
    "x-max-age": "7D",
    "x-max-length-bytes": 1_000_000_000,
    "x-stream-max-segment-size-bytes": 10_000_000,
}

# Events for whoever follows them live (the storefront's order-web processes, each with an
# exclusive queue of its own while it runs), not for a service's durable queue: the journal
# keeps them, and a follower that was away reads what it missed from the producer's data.
LIVE_EVENTS = frozenset({"order.step"})


@dataclass(frozen=True)
class QueueSpec:
    name: str
    exchange: str
    routing_keys: tuple[str, ...]

    @property
    def dead_letter_name(self) -> str:
        return f"{self.name}.dead-letter"


EVENT_QUEUES = {
    spec.name: spec
    for spec in (
        QueueSpec("warehouse.orders", EVENTS_EXCHANGE, ("order.confirmed", "order.cancelled")),
        QueueSpec(
            "notification.events",
            EVENTS_EXCHANGE,
            ("order.confirmed", "order.rejected", "order.failed", "order.cancelled", "shipment.dispatched"),
        ),
        QueueSpec("order.shipments", EVENTS_EXCHANGE, ("shipment.dispatched",)),
        QueueSpec("order.notifications", EVENTS_EXCHANGE, ("notification.sent",)),
    )
}
TASK_QUEUES = {
    spec.name: spec
    for spec in (
        QueueSpec("warehouse.tasks", TASKS_EXCHANGE, ("warehouse.tasks",)),
        QueueSpec("notification.tasks", TASKS_EXCHANGE, ("notification.tasks",)),
        QueueSpec("order.tasks", TASKS_EXCHANGE, ("order.tasks",)),
    )
}
ALL_QUEUES = {**EVENT_QUEUES, **TASK_QUEUES}
DEAD_LETTER_SOURCES = {spec.dead_letter_name: spec for spec in ALL_QUEUES.values()}  # DLQ -> its queue
EXCHANGE_TYPES = {
    EVENTS_EXCHANGE: "topic",
    DEAD_LETTER_EXCHANGE: "direct",
    TASKS_EXCHANGE: "topic",
    REPLAY_EXCHANGE: "topic",
}


def queue_arguments(spec: QueueSpec) -> dict:
    # reject-publish + at-least-once: quorum queues only dead-letter safely with both.
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": spec.dead_letter_name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


DEAD_LETTER_ARGUMENTS = {"x-queue-type": "quorum"}

# A policy (broker_setup applies it; arguments could not change on queues that exist): RabbitMQ
# 4.0 gives every quorum queue a delivery limit of 20, and a dead-letter queue has no dead-letter
# exchange of its own, so a dead letter returned 20 times (each listing returns what it read,
# messaging.dead_letters) would be dropped. -1: no limit; nothing consumes these queues.
DEAD_LETTER_POLICY = {
    "pattern": r"\.dead-letter$",
    "definition": {"delivery-limit": -1},
    "apply-to": "quorum_queues",
    "priority": 0,
}


def declare_with_pika(channel) -> None:
    """Declare the whole topology on a pika channel (idempotent)."""
    for name, kind in EXCHANGE_TYPES.items():
        channel.exchange_declare(exchange=name, exchange_type=kind, durable=True)
    for spec in ALL_QUEUES.values():
        channel.queue_declare(spec.dead_letter_name, durable=True, arguments=DEAD_LETTER_ARGUMENTS)
        channel.queue_bind(spec.dead_letter_name, DEAD_LETTER_EXCHANGE, spec.dead_letter_name)
        channel.queue_declare(spec.name, durable=True, arguments=queue_arguments(spec))
        for key in spec.routing_keys:
            channel.queue_bind(spec.name, spec.exchange, key)
        channel.queue_bind(spec.name, REPLAY_EXCHANGE, spec.name)
    channel.queue_declare(JOURNAL_STREAM, durable=True, arguments=JOURNAL_ARGUMENTS)
    channel.queue_bind(JOURNAL_STREAM, EVENTS_EXCHANGE, "#")
    channel.queue_declare(CATALOG_STREAM, durable=True, arguments=CATALOG_ARGUMENTS)
    for event_type in sorted(CATALOG_EVENTS):
        channel.queue_bind(CATALOG_STREAM, EVENTS_EXCHANGE, event_type)


def _exchange(name: str) -> Exchange:
    # Declared by messaging.broker_setup only: the workers' users may not configure exchanges
    # (messaging.permissions), so kombu must not declare them with a queue.
    return Exchange(name, type=EXCHANGE_TYPES[name], durable=True, no_declare=True)


def kombu_queue(name: str) -> Queue:
    spec = ALL_QUEUES[name]
    exchange = _exchange(spec.exchange)
    return Queue(
        spec.name,
        exchange=exchange,
        routing_key=spec.routing_keys[0],
        bindings=[binding(exchange, routing_key=key) for key in spec.routing_keys],
        durable=True,
        queue_arguments=queue_arguments(spec),
    )


def kombu_dead_letter_queue(name: str) -> Queue:
    spec = ALL_QUEUES[name]
    return Queue(
        spec.dead_letter_name,
        exchange=_exchange(DEAD_LETTER_EXCHANGE),
        routing_key=spec.dead_letter_name,
        durable=True,
        queue_arguments=DEAD_LETTER_ARGUMENTS,
    )
