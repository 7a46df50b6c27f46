"""The journal's index: reads the `journal` stream (every event on `events`, from every
producer, as the broker keeps it: messaging.topology) and records each event under its
order in the order database, so that GET /orders/{id}/journal is one indexed query (a stream
can only be filtered by reading it, which does not scale to one value per order).

The offset to read from next is stored in the same transaction as the entries it covers,
then the deliveries are acked: a crash in between reads them again, and an event already
recorded (also one a relay published twice) is kept once, by its id. A delivery that is not
an event envelope, or that the columns cannot hold, is skipped with a warning: the stream
keeps it, the index does not.

Run: python -m order_service.journal (DATABASE_URL: the order database; BROKER_URL: the order
service's user, which may read the stream; docs/security.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pika
import sqlalchemy as sa

from messaging.backoff import backoff_seconds
from messaging.broker import connection_parameters
from messaging.database import make_engine
from messaging.envelope import MalformedEvent, envelope_from_json, trace_id_of
from messaging.http_input import UNSTORABLE
from messaging.logs import configure_logging
from messaging.relay import BROKER_DOWN, DATABASE_DOWN
from messaging.runloop import run_until_stopped, stop_on_signals
from messaging.settings import Env, ProcessSettings, Role
from messaging.topology import JOURNAL_STREAM
from messaging.tracing import TRACEPARENT
from order_service import db
from order_service.domain import JournalEntry

log = logging.getLogger("journal")
WIDTH = 100  # the index's text columns (order_service/db.py journal)


def journal_entry(offset: int, properties: Any, body: bytes) -> JournalEntry | None:
    """The index's row for one delivery of the stream, or None when it cannot have one."""
    try:
        envelope = envelope_from_json(body)
        occurred_at = datetime.fromisoformat(envelope.time)
    except (MalformedEvent, ValueError):
        return None
    texts = [envelope.id, envelope.type, envelope.source, envelope.order_id or ""]
    if occurred_at.tzinfo is None or any(len(t) > WIDTH or UNSTORABLE.search(t) for t in texts):
        return None
    return JournalEntry(
        event_id=envelope.id,
        stream_offset=offset,
        order_id=envelope.order_id,
        event_type=envelope.type,
        producer=envelope.source,
        occurred_at=occurred_at,
        trace_id=trace_id_of(((properties.headers if properties else None) or {}).get(TRACEPARENT)),
    )


class JournalIndexer:
    """One batch per unit of messaging.runloop: what the stream delivered (waiting up to
    `idle_seconds` for the first), at most `batch_size`, recorded in one transaction."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        broker_url: str,
        batch_size: int = 500,
        idle_seconds: float = 1.0,
        liveness_file: str | None = None,
    ) -> None:
        self.engine = engine
        self.broker_url = broker_url
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.liveness_file = liveness_file
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._delivered: list[tuple[Any, Any, bytes]] = []

    def index_batch(self) -> int:
        """Returns how many deliveries it recorded (or skipped)."""
        if self._connection is None:
            self._subscribe()
        assert self._connection is not None
        if not self._delivered:
            self._connection.process_data_events(time_limit=self.idle_seconds)
        self._connection.process_data_events(time_limit=0)  # what else is already here
        batch, self._delivered = self._delivered[: self.batch_size], self._delivered[self.batch_size :]
        if not batch:
            return 0
        entries = []
        for _method, properties, body in batch:
            offset = int((properties.headers or {})["x-stream-offset"])
            if (entry := journal_entry(offset, properties, body)) is None:
                log.warning("journal offset %d skipped: not an event the index can hold", offset)
            else:
                entries.append(entry)
        last_offset = int(batch[-1][1].headers["x-stream-offset"])
        with self.engine.begin() as connection:
            db.record_journal(connection, entries, stream=JOURNAL_STREAM, next_offset=last_offset + 1)
        self._channel.basic_ack(batch[-1][0].delivery_tag, multiple=True)
        return len(batch)

    def index_once(self) -> float:
        """A unit of the run loop: a batch waits for its deliveries itself, so no rest after."""
        self.index_batch()
        return 0.0

    def _subscribe(self) -> None:
        """Consumes the stream from the stored position (its start, the first time). A stream
        asks for a prefetch, and acks only grant more credit: nothing is removed."""
        with self.engine.connect() as connection:
            start = db.journal_next_offset(connection, stream=JOURNAL_STREAM)
        self._delivered = []
        self._connection = pika.BlockingConnection(connection_parameters(self.broker_url))
        self._channel = self._connection.channel()
        self._channel.basic_qos(prefetch_count=2 * self.batch_size)
        self._channel.basic_consume(
            JOURNAL_STREAM,
            on_message_callback=lambda _channel, method, properties, body: self._delivered.append(
                (method, properties, body)
            ),
            arguments={"x-stream-offset": "first" if start is None else start},
        )
        log.info("journal indexing from offset %s", "first" if start is None else start)

    def run_forever(self, stop: threading.Event) -> None:
        run_until_stopped(
            self.index_once,
            stop=stop,
            transient=(*BROKER_DOWN, *DATABASE_DOWN),
            backoff=lambda failures: backoff_seconds(failures, first=0.2, cap=5.0, spread=0.5),
            after_failure=self.reset,
            liveness_file=self.liveness_file,
        )
        self.reset()

    def reset(self) -> None:
        """Drops the connection and what it delivered unrecorded (read again on subscribing)."""
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a dead connection may fail any way
                self._connection.close()
        self._connection, self._channel, self._delivered = None, None, []


@dataclass(frozen=True, kw_only=True)
class JournalSettings(ProcessSettings):
    batch_size: int = 500
    idle_seconds: float = 1.0  # the longest a pass waits for a delivery


def settings_from_env(environ: Mapping[str, str] | None = None) -> JournalSettings:
    env = Env(environ)
    return JournalSettings(
        **env.process(),
        batch_size=env.integer("JOURNAL_BATCH_SIZE", 500, minimum=1, maximum=10_000),
        idle_seconds=env.seconds("JOURNAL_IDLE_SECONDS", 1.0, minimum=0.01, maximum=60),
    )


def main() -> None:
    configure_logging()
    settings = settings_from_env()
    indexer = JournalIndexer(
        engine=make_engine(settings.database_url, pool_size=settings.pool_size(Role.DAEMON)),
        broker_url=settings.required_broker_url(),
        batch_size=settings.batch_size,
        idle_seconds=settings.idle_seconds,
        liveness_file=settings.liveness_file,
    )
    stop = threading.Event()
    stop_on_signals(stop)  # PID 1 in its container: without a handler SIGTERM is ignored
    indexer.run_forever(stop)
    log.info("journal indexer stopped")


if __name__ == "__main__":
    main()
