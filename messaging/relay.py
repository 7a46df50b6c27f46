"""The outbox relay: publishes unsent outbox rows, marking each sent only once confirmed.

Run one per service that has an outbox: `python -m messaging.relay` (DATABASE_URL,
BROKER_URL). A crash between publish and mark republishes the row: at-least-once,
and the consumers' inbox makes the duplicate harmless.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import signal
import threading
import time

import pika.exceptions
import psycopg2
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from messaging.broker import ConfirmedPublisher
from messaging.database import make_engine
from messaging.liveness import touch
from messaging.outbox import NOTIFY_CHANNEL, Outbox, outbox_table

log = logging.getLogger("relay")
NOT_DELIVERED = (pika.exceptions.UnroutableError, pika.exceptions.NackError)
BROKER_DOWN = (pika.exceptions.AMQPError, OSError)
# The LISTEN connection is a raw driver connection: its errors are psycopg2's, not SQLAlchemy's.
DATABASE_DOWN = (SQLAlchemyError, psycopg2.Error)


class OutboxRelay:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        outbox: Outbox,
        broker_url: str,
        batch_size: int = 200,
        idle_seconds: float = 1.0,
        liveness_file: str | None = None,
        pause_before_mark_seconds: float = 0.0,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.broker_url = broker_url
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.liveness_file = liveness_file
        # Test hook for the chaos suite: widens the publish-to-mark window so a kill lands in it.
        self.pause_before_mark_seconds = pause_before_mark_seconds
        self._publisher: ConfirmedPublisher | None = None
        self._listener = None

    def relay_batch(self) -> int:
        """Publish one batch; returns how many rows the broker confirmed."""
        if self._publisher is None:
            self._publisher = ConfirmedPublisher(url=self.broker_url)
        confirmed = 0
        with self.engine.begin() as connection:
            for row_id, envelope in self.outbox.claim_unsent(connection, limit=self.batch_size):
                try:
                    self._publisher.publish(envelope)
                except NOT_DELIVERED as error:
                    # Stays unsent: retried on the next pass, never marked on a guess.
                    log.warning("event %s not delivered: %r", envelope.id, error)
                    self.outbox.mark_failed(connection, row_id, repr(error))
                    continue
                if self.pause_before_mark_seconds:
                    time.sleep(self.pause_before_mark_seconds)
                self.outbox.mark_sent(connection, row_id)
                confirmed += 1
        return confirmed

    def run_forever(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                confirmed = self.relay_batch()
                failures = 0
                self._touch()
                if confirmed < self.batch_size:
                    self._wait_for_new_rows(stop)
            except (*BROKER_DOWN, *DATABASE_DOWN) as error:
                failures += 1
                delay = min(5.0, 0.2 * 2**failures) * random.uniform(0.5, 1.0)
                log.warning("relay pass failed (%r); retrying in %.1fs", error, delay)
                self._reset()
                stop.wait(delay)
        self._reset()

    def _wait_for_new_rows(self, stop: threading.Event) -> None:
        """Sleep until a NOTIFY from a committing writer, or idle_seconds at most."""
        if self._listener is None:
            self._listener = self.engine.raw_connection()
            driver = self._listener.driver_connection
            driver.autocommit = True
            driver.cursor().execute(f"LISTEN {NOTIFY_CHANNEL}")
        driver = self._listener.driver_connection
        if select.select([driver], [], [], self.idle_seconds)[0]:
            driver.poll()
            driver.notifies.clear()
        if self._publisher is not None:
            self._publisher.process_events()

    def _touch(self) -> None:
        if self.liveness_file:
            touch(self.liveness_file)

    def _reset(self) -> None:
        for resource in (self._publisher, self._listener):
            if resource is not None:
                with contextlib.suppress(Exception):  # closing a dead connection may fail any way
                    resource.close()
        self._publisher = None
        self._listener = None


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    relay = OutboxRelay(
        engine=make_engine(os.environ["DATABASE_URL"]),
        outbox=Outbox(outbox_table(sa.MetaData())),
        broker_url=os.environ["BROKER_URL"],
        batch_size=int(os.environ.get("RELAY_BATCH_SIZE", "200")),
        idle_seconds=float(os.environ.get("RELAY_IDLE_SECONDS", "1.0")),
        liveness_file=os.environ.get("LIVENESS_FILE", "/tmp/alive"),
        pause_before_mark_seconds=float(os.environ.get("RELAY_PAUSE_BEFORE_MARK_SECONDS", "0")),
    )
    stop = threading.Event()
    # PID 1 in its container: without a handler SIGTERM is ignored and `docker stop` must kill.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("relay started")
    relay.run_forever(stop)
    log.info("relay stopped")


if __name__ == "__main__":
    main()
