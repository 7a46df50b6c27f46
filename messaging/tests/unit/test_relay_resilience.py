"""The relay loop outlives a database or broker outage of any kind (it must not exit)."""

import threading

import pika.exceptions
import psycopg2
import pytest
import sqlalchemy as sa

from messaging.relay import OutboxRelay


class ScriptedRelay(OutboxRelay):
    """relay_batch fails as scripted, then asks the loop to stop."""

    def __init__(self, failures, stop):
        super().__init__(engine=None, outbox=None, broker_url="amqp://unused")
        self.failures, self.stop, self.passes = list(failures), stop, 0

    def relay_batch(self):
        self.passes += 1
        if self.failures:
            raise self.failures.pop(0)
        self.stop.set()
        return self.batch_size  # "more to do": no LISTEN wait needed


@pytest.mark.parametrize(
    "failure",
    [
        psycopg2.OperationalError("server closed the connection unexpectedly"),  # the raw LISTEN connection
        sa.exc.OperationalError("SELECT", {}, Exception("connection refused")),
        pika.exceptions.AMQPConnectionError("broker restarting"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_an_outage_is_retried_not_fatal(failure, monkeypatch):
    stop = threading.Event()
    relay = ScriptedRelay([failure, failure], stop)
    monkeypatch.setattr(stop, "wait", lambda delay: None)  # skip the real backoff

    relay.run_forever(stop)

    assert relay.passes == 3  # two failed passes, then the one that succeeded
