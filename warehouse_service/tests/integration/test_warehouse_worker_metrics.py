"""The real warehouse worker (Celery, a prefork pool of 2, multiprocess metrics) serves GET
:METRICS_PORT/metrics from its main process: the events its consumer step handled."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pika
import pytest
import requests

from messaging.broker import ConfirmedPublisher, connection_parameters
from testsupport.containers import free_port
from testsupport.events import example_envelope
from testsupport.polling import wait_until
from testsupport.processes import running
from testsupport.scrape import scraped_value

QUEUE = "warehouse.orders"


@pytest.fixture
def worker_metrics(warehouse_db, rabbitmq_server, tmp_path) -> Iterator[str]:
    """The worker's metrics URL."""
    with pika.BlockingConnection(connection_parameters(rabbitmq_server.url)) as connection:
        connection.channel().queue_purge(QUEUE)  # other tests may have left events
    port = free_port()
    (tmp_path / "metrics").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": warehouse_db,
        "BROKER_URL": rabbitmq_server.user_url("warehouse"),
        "LIVENESS_FILE": str(tmp_path / "alive"),
        "METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),  # as compose sets it
    }
    command = [
        sys.executable, "-m", "celery", "-A", "warehouse_service.celery_app", "worker", "-B",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-c", "2",
        "-s", str(tmp_path / "celerybeat-schedule"), "--loglevel", "INFO",
    ]  # fmt: skip
    with running(command, env=env, log_path=tmp_path / "worker.log"):
        yield f"http://127.0.0.1:{port}/metrics"


def test_the_worker_counts_handled_events_and_duplicates_on_its_metrics_port(worker_metrics, rabbitmq_server):
    wait_until(lambda: requests.get(worker_metrics, timeout=2).ok, timeout=60, what="the metrics port")
    event = example_envelope("order.confirmed")
    publisher = ConfirmedPublisher(url=rabbitmq_server.user_url("order"))
    try:
        publisher.publish(event)
        publisher.publish(event)  # a redelivery: the inbox skips it
    finally:
        publisher.close()

    def handled() -> float | None:
        return scraped_value(
            worker_metrics, "pipeline_consumer_events_total", consumer=QUEUE, outcome="handled"
        )

    wait_until(lambda: handled() == 2, timeout=60, what="two events handled")
    assert scraped_value(worker_metrics, "pipeline_consumer_duplicates_total", consumer=QUEUE) == 1
