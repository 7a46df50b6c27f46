"""The real worker (`celery -A notification_service.celery_app worker -B`) against RabbitMQ,
PostgreSQL and an in-process SMTP server: event -> notification row -> send task -> one email."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
import sqlalchemy as sa

from messaging.broker import ConfirmedPublisher, connection_parameters
from notification_service import db
from notification_service.tests.fake_smtp import FakeSmtpServer
from testsupport.events import example_envelope
from testsupport.polling import wait_until

ROOT = Path(__file__).resolve().parents[3]
QUEUE = "notification.events"


@pytest.fixture
def publisher(rabbitmq_server) -> Iterator[ConfirmedPublisher]:
    publisher = ConfirmedPublisher(url=rabbitmq_server.url)  # the administrator: order.* and shipment.*
    with pika.BlockingConnection(connection_parameters(rabbitmq_server.url)) as connection:
        connection.channel().queue_purge(QUEUE)  # events other tests left behind are not ours
    yield publisher
    publisher.close()


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def worker(notification_db, rabbitmq_server, smtp, tmp_path) -> Iterator[subprocess.Popen]:
    log = (tmp_path / "worker.log").open("w")
    env = {
        **os.environ,
        "DATABASE_URL": notification_db,
        "BROKER_URL": rabbitmq_server.user_url("notification"),  # its own user, as in compose
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "LIVENESS_FILE": str(tmp_path / "alive"),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "notification_service.celery_app", "worker", "-B",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-c", "2",
        "-s", str(tmp_path / "celerybeat-schedule"), "--loglevel", "INFO",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        print((tmp_path / "worker.log").read_text()[-20000:])  # shown by pytest when the test fails


def statuses(engine: sa.Engine, order_id: str) -> dict[str, str]:
    with engine.connect() as connection:
        query = sa.select(db.notifications.c.kind, db.notifications.c.status).where(
            db.notifications.c.order_id == order_id
        )
        return {kind: status for kind, status in connection.execute(query)}


def test_each_event_becomes_exactly_one_email(engine, publisher, smtp, worker, tmp_path):
    confirmed = example_envelope("order.confirmed")
    order_id = confirmed.data["order_id"]
    shipped = example_envelope("shipment.dispatched", order_id=order_id)
    publisher.publish(confirmed)
    publisher.publish(confirmed)  # duplicate delivery: same message id
    publisher.publish(shipped)

    expected = {"order_confirmed": "SENT", "order_shipped": "SENT"}
    wait_until(lambda: statuses(engine, order_id) == expected, timeout=60, what="both notifications sent")
    assert sorted(email["Message-ID"] for email in smtp.received) == [
        f"<{order_id}.order_confirmed@order-pipeline.local>",
        f"<{order_id}.order_shipped@order-pipeline.local>",
    ]
    assert {email["To"] for email in smtp.received} == {"ada@example.com"}
    assert (tmp_path / "alive").exists()  # the consumer step keeps the liveness file fresh
    assert worker.poll() is None


def test_an_order_cancelled_reaches_the_worker_and_becomes_one_email(engine, publisher, smtp, worker):
    cancelled = example_envelope("order.cancelled")  # routed to notification.events by its own binding
    order_id = cancelled.data["order_id"]
    publisher.publish(cancelled)

    wait_until(
        lambda: statuses(engine, order_id) == {"order_cancelled": "SENT"}, timeout=60, what="the email sent"
    )
    [email] = [e for e in smtp.received if order_id in e["Subject"]]
    assert email["Subject"] == f"Your order {order_id} has been cancelled"
    assert email["Message-ID"] == f"<{order_id}.order_cancelled@order-pipeline.local>"
    assert worker.poll() is None
