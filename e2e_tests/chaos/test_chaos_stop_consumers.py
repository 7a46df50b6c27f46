"""Fault 2: `docker stop` (graceful) of each consumer while orders keep flowing; restart; the
backlog drains. Orders are never failed or slowed by a consumer being down."""

from __future__ import annotations

from e2e_tests.chaos import faults
from e2e_tests.stack import queue_state

CONSUMERS = ("warehouse-worker", "notification-worker", "order-worker")
INJECTIONS = 6  # each consumer twice, in a seeded order
SLOW_ANSWER_SECONDS = 5.0  # an order answer while only a consumer is down


def test_graceful_stop_of_each_consumer_then_the_backlog_drains(chaos):
    run = chaos("2 stop consumer").start()
    order = list(CONSUMERS) * 2
    run.rng.shuffle(order)
    for service in order[:INJECTIONS]:
        run.moment(1, 2.5)
        with run.inject(f"stop {service}") as injection:
            faults.stop(service, timeout=20)
            down_from = run.driver.now()
            queues = faults.WORKER_QUEUES[service]
            consumers = {name: c for name, (_ready, c) in queue_state(queues).items()}
            if any(consumers.values()):
                run.problem("consumer-still-attached", f"{service} stopped, consumers {consumers}")
            run.moment(2, 4)  # orders keep flowing while it is down
            backlog = queue_state(queues)
            injection.notes["backlog"] = {name: ready for name, (ready, _c) in backlog.items()}
            down_until = run.driver.now()
            faults.start(service)
            injection.notes["back_after_s"] = round(faults.wait_ready(service), 1)
        _orders_unaffected(run, service, down_from, down_until)
    run.finish()


def _orders_unaffected(run, service: str, down_from: float, down_until: float) -> None:
    """Orders placed while a consumer was down were answered at once, and not with an error."""
    for record in run.driver.records:
        if not (down_from <= record.started and record.ended <= down_until) or record.duplicate:
            continue
        first = record.attempts[0]
        if first.status is None or first.status >= 500 or first.seconds > SLOW_ANSWER_SECONDS:
            run.problem(
                "order-hurt-by-consumer-down",
                f"{service} down: POST answered {first.status} {first.error or ''} in {first.seconds:.1f}s",
                order_id=record.order_id,
            )
