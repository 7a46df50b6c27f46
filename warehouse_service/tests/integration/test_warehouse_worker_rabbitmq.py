"""The real worker (`celery -A warehouse_service.celery_app worker -B`) against RabbitMQ and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
import sqlalchemy as sa

from contracts import validate_event
from messaging.broker import ConfirmedPublisher, connection_parameters
from messaging.consumer import LIVENESS_INTERVAL_SECONDS
from messaging.liveness import is_fresh
from messaging.topology import EVENTS_EXCHANGE
from testsupport.events import example_envelope
from testsupport.polling import wait_until
from warehouse_service import db

ROOT = Path(__file__).resolve().parents[3]
QUEUE = "warehouse.orders"
DEAD_LETTERS = "warehouse.orders.dead-letter"


@pytest.fixture
def publisher(rabbitmq_server) -> Iterator[ConfirmedPublisher]:
    publisher = ConfirmedPublisher(url=rabbitmq_server.user_url("order"))  # order.* is the order service's
    with pika.BlockingConnection(connection_parameters(rabbitmq_server.url)) as connection:
        channel = connection.channel()
        # Other tests of the session may have left events here; this test counts its own.
        channel.queue_purge(QUEUE)
        channel.queue_purge(DEAD_LETTERS)
    yield publisher
    publisher.close()


@pytest.fixture
def worker(warehouse_db, rabbitmq_server, tmp_path) -> Iterator[subprocess.Popen]:
    log = (tmp_path / "worker.log").open("w")
    env = {
        **os.environ,
        "DATABASE_URL": warehouse_db,
        "BROKER_URL": rabbitmq_server.user_url("warehouse"),  # its own user, as in compose
        "DISPATCH_DELAY_SECONDS": "0.5",
        "LIVENESS_FILE": str(tmp_path / "alive"),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "warehouse_service.celery_app", "worker", "-B",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-c", "2",
        "-s", str(tmp_path / "celerybeat-schedule"), "--loglevel", "INFO",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown: finish what runs, then leave
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        print((tmp_path / "worker.log").read_text()[-20000:])  # shown by pytest when the test fails


def message_count(url: str, queue: str) -> int:
    with pika.BlockingConnection(connection_parameters(url)) as connection:
        return connection.channel().queue_declare(queue, passive=True).method.message_count


def dead_lettered_ids(url: str, expected: int) -> set[str]:
    with pika.BlockingConnection(connection_parameters(url)) as connection:
        channel = connection.channel()
        ids = set()
        for _ in range(expected):
            method, properties, _body = channel.basic_get(DEAD_LETTERS, auto_ack=False)
            assert method is not None
            ids.add(properties.message_id)
        return ids  # unacked: they go back to the dead-letter queue when the connection closes


def publish_raw(url: str, *, message_id: str, body: bytes) -> None:
    with pika.BlockingConnection(connection_parameters(url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange=EVENTS_EXCHANGE,
            routing_key="order.confirmed",
            body=body,
            properties=pika.BasicProperties(
                message_id=message_id,
                type="order.confirmed",
                content_type="application/json",
                delivery_mode=2,
            ),
            mandatory=True,
        )


def shipments_of(engine: sa.Engine, order_id: str) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(sa.select(db.shipments).where(db.shipments.c.order_id == order_id)).all()


def dispatched_events_of(engine: sa.Engine, order_id: str) -> list[dict]:
    envelope = db.outbox.table.c.envelope
    with engine.connect() as connection:
        query = sa.select(envelope).where(envelope["data"]["order_id"].astext == order_id)
        return list(connection.execute(query).scalars())


def dispatched_once(engine: sa.Engine, order_id: str) -> bool:
    rows = shipments_of(engine, order_id)
    return len(rows) == 1 and rows[0].status == "DISPATCHED"


def test_the_worker_ships_once_dead_letters_poison_and_keeps_going(
    rabbitmq_server, engine, publisher, worker, tmp_path
):
    url = rabbitmq_server.url
    confirmed = example_envelope("order.confirmed")
    order_id = confirmed.data["order_id"]
    publisher.publish(confirmed)
    publisher.publish(confirmed)  # a duplicate delivery: same message id

    wait_until(lambda: dispatched_once(engine, order_id), timeout=60, what="the shipment to be dispatched")
    assert len(shipments_of(engine, order_id)) == 1
    [event] = dispatched_events_of(engine, order_id)
    validate_event(event)
    with engine.connect() as connection:
        handled = connection.execute(sa.select(db.inbox.table.c.message_id)).scalars().all()
    assert handled == [confirmed.id]

    # Poison: not JSON at all, and an envelope the warehouse cannot ship (no order_id).
    publish_raw(url, message_id="poison-not-json", body=b"{this is not json")
    no_order = example_envelope("order.confirmed", event_id="poison-no-order-id")
    del no_order.data["order_id"]
    publisher.publish(no_order)
    after = example_envelope("order.confirmed")
    publisher.publish(after)

    wait_until(lambda: message_count(url, DEAD_LETTERS) == 2, timeout=60, what="two dead-lettered messages")
    assert dead_lettered_ids(url, 2) == {"poison-not-json", "poison-no-order-id"}
    wait_until(
        lambda: dispatched_once(engine, after.data["order_id"]),
        timeout=60,
        what="the event after the poison to be handled",
    )
    assert len(dispatched_events_of(engine, after.data["order_id"])) == 1
    assert message_count(url, QUEUE) == 0
    assert worker.poll() is None, "the worker must still run"
    assert (tmp_path / "alive").exists()  # the consumer step keeps the liveness file fresh


def test_the_worker_receives_order_cancelled_and_never_ships_that_order(engine, publisher, worker):
    cancelled = example_envelope("order.cancelled", order_id=str(uuid.uuid4()))
    order_id = cancelled.data["order_id"]
    marker = example_envelope("order.confirmed")
    publisher.publish(cancelled)  # routed to warehouse.orders by the order.cancelled binding
    publisher.publish(
        example_envelope("order.confirmed", order_id=order_id)
    )  # the confirmation, arriving late
    publisher.publish(marker)  # handled after the late confirmation: events of a queue come in order

    wait_until(
        lambda: dispatched_once(engine, marker.data["order_id"]), timeout=60, what="the marker order shipped"
    )
    [shipment] = shipments_of(engine, order_id)
    assert (shipment.status, shipment.dispatched_at) == ("CANCELLED", None)
    assert dispatched_events_of(engine, order_id) == []
    assert worker.poll() is None


def test_a_backlog_is_drained_many_events_per_transaction_each_shipped_once(engine, publisher, request):
    events = [example_envelope("order.confirmed") for _ in range(300)]
    for event in events:
        publisher.publish(event)
    order_ids = [event.data["order_id"] for event in events]
    request.getfixturevalue("worker")  # started only now: the queue holds the whole backlog

    def shipments() -> list[sa.Row]:
        with engine.connect() as connection:
            query = sa.select(db.shipments.c.order_id, db.shipments.c.created_at)
            return connection.execute(query.where(db.shipments.c.order_id.in_(order_ids))).all()

    wait_until(lambda: len(shipments()) >= len(events), timeout=60, what="a shipment for every order")
    rows = shipments()
    assert sorted(row.order_id for row in rows) == sorted(order_ids)  # each order once
    # created_at is the transaction's start (now()): one distinct value per commit.
    commits = len({row.created_at for row in rows})
    assert commits <= len(events) / 5, f"{commits} commits for {len(events)} events"


def test_the_liveness_file_stops_while_the_broker_is_down_and_resumes_once_it_is_back(
    rabbitmq_server, worker, tmp_path
):
    """A worker's liveness file is its broker check (messaging.liveness): the consumer step's
    timer touches it, and Celery stops that step when the connection drops."""
    alive = tmp_path / "alive"
    wait_until(alive.exists, timeout=60, what="the worker consuming")

    with rabbitmq_server.down():
        # What the healthcheck sees: untouched for longer than the touch interval.
        wait_until(
            lambda: not is_fresh(str(alive), max_age_seconds=LIVENESS_INTERVAL_SECONDS + 2),
            timeout=60,
            what="the liveness file to go stale",
        )
    back_since = time.time()

    wait_until(lambda: alive.stat().st_mtime >= back_since, timeout=90, what="the worker consuming again")
    assert worker.poll() is None
