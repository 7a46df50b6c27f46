"""`python -m messaging.relay` as it runs in its container serves GET :METRICS_PORT/metrics:
the outbox's backlog (read at scrape time) and the publish-to-confirm latency."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from messaging.database import make_engine
from messaging.envelope import new_event
from messaging.outbox import Outbox, outbox_table
from testsupport.containers import free_port
from testsupport.polling import wait_until
from testsupport.processes import running
from testsupport.scrape import scraped_value

outbox = Outbox(outbox_table(sa.MetaData()))


@pytest.fixture
def order_db(database_url) -> str:
    return database_url(migrate="order_service")  # any service with an outbox


@pytest.fixture
def relay(order_db, rabbitmq_server, tmp_path) -> Iterator[str]:
    """The relay's metrics URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": order_db,
        "BROKER_URL": rabbitmq_server.user_url("order"),
        "LIVENESS_FILE": str(tmp_path / "alive"),
        "METRICS_PORT": str(port),
        "RELAY_IDLE_SECONDS": "0.2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: its own registry
    command = [sys.executable, "-m", "messaging.relay"]
    with running(command, env=env, log_path=tmp_path / "relay.log"):
        yield f"http://127.0.0.1:{port}/metrics"


def test_the_relay_serves_its_outbox_gauges_and_confirm_latency(relay, order_db):
    service = sa.make_url(order_db).database  # the label: the database's name, less "_service"
    wait_until(
        lambda: scraped_value(relay, "pipeline_outbox_unsent", service=service) == 0,
        timeout=30,
        what="the relay's metrics port",
    )
    assert scraped_value(relay, "pipeline_outbox_oldest_unsent_seconds", service=service) == 0

    engine = make_engine(order_db, pool_size=1)
    with engine.begin() as connection:
        for number in range(3):
            outbox.add(
                connection, new_event(type="order.confirmed", source="test", data={"order_id": f"o{number}"})
            )
    engine.dispose()

    wait_until(
        lambda: scraped_value(relay, "pipeline_relay_confirm_seconds_count", service=service) == 3,
        timeout=30,
        what="three confirms timed",
    )
    assert scraped_value(relay, "pipeline_outbox_unsent", service=service) == 0
