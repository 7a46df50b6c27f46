"""The real order worker (`celery -A order_service.celery_app worker`) against RabbitMQ and
PostgreSQL: one worker, two event queues (order.shipments and order.notifications), each
published to by the service that owns its events, as in compose."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pika
import pytest
import sqlalchemy as sa

from messaging.broker import ConfirmedPublisher, connection_parameters
from messaging.database import make_engine
from order_service import db
from order_service.api import answer_place_order
from order_service.tests.integration.support import make_deps, order_body
from testsupport.events import example_envelope
from testsupport.polling import wait_until
from testsupport.processes import running

QUEUES = ("order.shipments", "order.notifications")


@pytest.fixture
def order_db(database_url) -> str:
    return database_url(migrate="order_service")


@pytest.fixture
def engine(order_db) -> Iterator[sa.Engine]:
    engine = make_engine(order_db, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def worker(order_db, rabbitmq_server, tmp_path) -> Iterator[subprocess.Popen]:
    with pika.BlockingConnection(connection_parameters(rabbitmq_server.url)) as connection:
        channel = connection.channel()
        for queue in QUEUES:  # other tests of the session may have left events there
            channel.queue_purge(queue)
    env = {
        **os.environ,
        "DATABASE_URL": order_db,
        "BROKER_URL": rabbitmq_server.user_url("order"),  # its own user, as in compose
        "ORDER_SERVICE_TOKEN": "test-order-service-token",
        "LIVENESS_FILE": str(tmp_path / "alive"),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "order_service.celery_app", "worker",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-c", "1", "--loglevel", "INFO",
    ]  # fmt: skip
    with running(command, env=env, log_path=tmp_path / "worker.log") as process:
        yield process


def publish_as(broker, service: str, envelope) -> None:
    publisher = ConfirmedPublisher(url=broker.user_url(service))
    try:
        publisher.publish(envelope)
    finally:
        publisher.close()


def step_kinds(engine: sa.Engine, order_id: str) -> list[str]:
    with engine.connect() as connection:
        return [step.kind for step in db.steps_of(connection, order_id=order_id)]


def test_one_worker_consumes_the_shipments_and_the_emails_sent(rabbitmq_server, engine, worker):
    order_id = answer_place_order(
        deps=make_deps(engine), idempotency_key=str(uuid.uuid4()), body=order_body()
    ).order_id
    email = example_envelope("notification.sent", order_id=order_id)

    publish_as(rabbitmq_server, "notification", email)
    publish_as(rabbitmq_server, "notification", email)  # redelivered: same message id
    wait_until(
        lambda: step_kinds(engine, order_id)[3:] == ["email.order_confirmed"],
        timeout=60,
        what="the email's step",
    )
    publish_as(rabbitmq_server, "warehouse", example_envelope("shipment.dispatched", order_id=order_id))

    wait_until(
        lambda: step_kinds(engine, order_id)[3:] == ["email.order_confirmed", "shipped"],
        timeout=60,
        what="the shipment's step after the email's",
    )
    assert worker.poll() is None, "the worker must still run"
