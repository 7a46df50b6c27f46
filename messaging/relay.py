"""The outbox relay: publishes unsent outbox rows, marking each sent only once confirmed.

Run one per service that has an outbox: `python -m messaging.relay` (DATABASE_URL,
BROKER_URL). A crash between publish and mark republishes the row: at-least-once,
and the consumers' inbox makes the duplicate harmless.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pika.exceptions
import psycopg2
import sqlalchemy as sa
from opentelemetry.trace import SpanKind
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from messaging.backoff import backoff_seconds
from messaging.broker import ConfirmedPublisher, RouteCheck
from messaging.database import make_engine
from messaging.envelope import Envelope
from messaging.logs import configure_logging, event_ids, process_name
from messaging.metrics import RELAY_CONFIRM_SECONDS, ScrapeTimeGauges, serve_metrics
from messaging.outbox import NOTIFY_CHANNEL, Outbox, outbox_table
from messaging.runloop import run_until_stopped, stop_on_signals
from messaging.settings import Env, ProcessSettings, Role
from messaging.tracing import configure_tracing, continued_span, current_traceparent

log = logging.getLogger("relay")
NOT_DELIVERED = (pika.exceptions.UnroutableError, pika.exceptions.NackError)
BROKER_DOWN = (pika.exceptions.AMQPError, OSError)
# The LISTEN connection is a raw driver connection: its errors are psycopg2's, not SQLAlchemy's.
DATABASE_DOWN = (SQLAlchemyError, psycopg2.Error)


class TopologyIncomplete(Exception):
    """A queue the topology names is missing (RouteCheck): the pass is treated as failed, so
    the relay's liveness file goes stale and its healthcheck says so, until it is back."""


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
        service: str = "",
    ) -> None:
        """`service`: whose outbox, the label of its metrics."""
        self.engine = engine
        self.outbox = outbox
        self.broker_url = broker_url
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.liveness_file = liveness_file
        # Test hook for the chaos suite: widens the publish-to-mark window so a kill lands in it.
        self.pause_before_mark_seconds = pause_before_mark_seconds
        self.routes = RouteCheck()
        self._publisher: ConfirmedPublisher | None = None
        self._listener: PoolProxiedConnection | None = None
        self._confirm_seconds = RELAY_CONFIRM_SECONDS.labels(service=service)

    def relay_batch(self) -> int:
        """Publish one batch; returns how many rows the broker confirmed."""
        if self._publisher is None:
            self._publisher = ConfirmedPublisher(url=self.broker_url)
        confirmed = 0
        unrouted = []
        with self.engine.begin() as connection:
            for row_id, envelope in self.outbox.claim_unsent(connection, limit=self.batch_size):
                if problem := self.routes.missing(self._publisher, envelope.type):
                    # Stays unsent, as an unroutable publish did before the journal bound every key.
                    log.warning("event %s not published: %s", envelope.id, problem)
                    self.outbox.mark_failed(connection, row_id, problem)
                    unrouted.append(problem)
                    continue
                if (failure := self._publish(envelope)) is not None:
                    # Stays unsent: retried on the next pass, never marked on a guess.
                    self.outbox.mark_failed(connection, row_id, failure)
                    continue
                if self.pause_before_mark_seconds:
                    time.sleep(self.pause_before_mark_seconds)
                self.outbox.mark_sent(connection, row_id)
                confirmed += 1
        if unrouted:  # after the commit, which keeps the rows that did go out marked sent
            raise TopologyIncomplete("; ".join(sorted(set(unrouted))))
        return confirmed

    def _publish(self, envelope: Envelope) -> str | None:
        """Publishes in a PRODUCER span, child of the event's traceparent (its outbox row's),
        whose own traceparent is the AMQP header: the consumers' spans are its children.
        Returns why the broker did not take it, or None."""
        assert self._publisher is not None
        span_name = f"publish {envelope.type}"
        with continued_span(span_name, traceparent=envelope.traceparent, kind=SpanKind.PRODUCER):
            try:
                with self._confirm_seconds.time():  # publish returns once the broker confirmed
                    self._publisher.publish(envelope, traceparent=current_traceparent())
            except NOT_DELIVERED as error:
                log.warning("event %s not delivered: %r", envelope.id, error, extra=event_ids(envelope))
                return repr(error)
            log.info("published %s %s", envelope.type, envelope.id, extra=event_ids(envelope))
            return None

    def run_forever(self, stop: threading.Event) -> None:
        """Until `stop` is set; SIGTERM lets the current pass (at most `idle_seconds` of
        waiting) finish first. An outage of the database or the broker is waited out."""
        run_until_stopped(
            self.relay_once,
            stop=stop,
            transient=(*BROKER_DOWN, *DATABASE_DOWN, TopologyIncomplete),
            backoff=lambda failures: backoff_seconds(failures, first=0.2, cap=5.0, spread=0.5),
            after_failure=self.reset,
            liveness_file=self.liveness_file,
        )
        self.reset()

    def relay_once(self) -> float:
        """One batch; when it left nothing behind, wait for news (see _wait_for_new_rows)."""
        if self.relay_batch() < self.batch_size:
            self._wait_for_new_rows()
        return 0.0

    def _wait_for_new_rows(self) -> None:
        """Sleep until a NOTIFY from a committing writer, or idle_seconds at most."""
        if self._listener is None:
            self._listener = self.engine.raw_connection()
            listening: Any = self._listener.driver_connection  # psycopg2's own connection
            listening.autocommit = True
            listening.cursor().execute(f"LISTEN {NOTIFY_CHANNEL}")
        driver: Any = self._listener.driver_connection
        if select.select([driver], [], [], self.idle_seconds)[0]:
            driver.poll()
            driver.notifies.clear()
        if self._publisher is not None:
            self._publisher.process_events()

    def reset(self) -> None:
        for resource in (self._publisher, self._listener):
            if resource is not None:
                with contextlib.suppress(Exception):  # closing a dead connection may fail any way
                    resource.close()
        self._publisher = None
        self._listener = None


def outbox_gauges(*, engine: sa.Engine, outbox: Outbox, service: str) -> ScrapeTimeGauges:
    """The outbox's backlog and the age of its oldest unsent row, read at scrape time: one
    query per scrape, on the relay's own connection pool."""

    def read() -> dict[str, dict[tuple[str, ...], float]]:
        with engine.connect() as connection:
            unsent, oldest_seconds = outbox.backlog(connection)
        return {
            "pipeline_outbox_unsent": {(service,): unsent},
            "pipeline_outbox_oldest_unsent_seconds": {(service,): oldest_seconds},
        }

    return ScrapeTimeGauges(
        gauges={
            "pipeline_outbox_unsent": ("Outbox rows not yet confirmed by the broker", ("service",)),
            "pipeline_outbox_oldest_unsent_seconds": (
                "Age of the oldest outbox row not yet confirmed by the broker (0: none)",
                ("service",),
            ),
        },
        read=read,
    )


@dataclass(frozen=True, kw_only=True)
class RelaySettings(ProcessSettings):
    # Whose outbox: the metrics' `service` label, from the database's name (order_service: order).
    service: str = ""
    batch_size: int = 200
    idle_seconds: float = 1.0  # the longest a row waits when its NOTIFY was missed
    pause_before_mark_seconds: float = 0.0  # the chaos suite's test hook (see OutboxRelay)


def settings_from_env(environ: Mapping[str, str] | None = None) -> RelaySettings:
    env = Env(environ)
    process = env.process()
    return RelaySettings(
        **process,
        service=(sa.make_url(process["database_url"]).database or "").removesuffix("_service"),
        batch_size=env.integer("RELAY_BATCH_SIZE", 200, minimum=1, maximum=10_000),
        idle_seconds=env.seconds("RELAY_IDLE_SECONDS", 1.0, minimum=0.01, maximum=60),
        pause_before_mark_seconds=env.seconds("RELAY_PAUSE_BEFORE_MARK_SECONDS", 0.0, maximum=60),
    )


def main() -> None:
    configure_logging()
    configure_tracing(process_name())
    settings = settings_from_env()
    engine = make_engine(settings.database_url, pool_size=settings.pool_size(Role.DAEMON))
    outbox = Outbox(outbox_table(sa.MetaData()))
    gauges = outbox_gauges(engine=engine, outbox=outbox, service=settings.service)
    serve_metrics(settings.metrics_port, [gauges])
    relay = OutboxRelay(
        engine=engine,
        outbox=outbox,
        broker_url=settings.required_broker_url(),
        batch_size=settings.batch_size,
        idle_seconds=settings.idle_seconds,
        liveness_file=settings.liveness_file,
        pause_before_mark_seconds=settings.pause_before_mark_seconds,
        service=settings.service,
    )
    stop = threading.Event()
    stop_on_signals(stop)  # PID 1 in its container: without a handler SIGTERM is ignored
    log.info("relay started")
    relay.run_forever(stop)
    log.info("relay stopped")


if __name__ == "__main__":
    main()
