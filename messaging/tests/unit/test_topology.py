from messaging.topology import (
    ALL_QUEUES,
    DELIVERY_LIMIT,
    EVENT_QUEUES,
    kombu_dead_letter_queue,
    kombu_queue,
    queue_arguments,
)


def test_every_queue_is_quorum_with_a_dead_letter_twin_and_a_delivery_limit():
    for spec in ALL_QUEUES.values():
        arguments = queue_arguments(spec)
        assert arguments["x-queue-type"] == "quorum"
        assert arguments["x-delivery-limit"] == DELIVERY_LIMIT
        assert arguments["x-dead-letter-routing-key"] == f"{spec.name}.dead-letter"
        assert arguments["x-dead-letter-strategy"] == "at-least-once"
        assert arguments["x-overflow"] == "reject-publish"  # required by at-least-once dead-lettering


def test_kombu_declares_with_the_same_arguments_as_pika():
    for name, spec in ALL_QUEUES.items():
        queue = kombu_queue(name)
        assert queue.queue_arguments == queue_arguments(spec)
        assert queue.durable
        assert {b.routing_key for b in queue.bindings} == set(spec.routing_keys)
        assert kombu_dead_letter_queue(name).name == spec.dead_letter_name


def test_each_order_event_has_its_consumers():
    consumers = {
        key: [n for n, s in EVENT_QUEUES.items() if key in s.routing_keys] for key in ("order.confirmed",)
    }

    assert sorted(consumers["order.confirmed"]) == ["notification.events", "warehouse.orders"]
