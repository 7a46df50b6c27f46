"""Following a RabbitMQ stream into a database: one reader from one stored offset.

A follower consumes the stream from the offset stored in its database (the stream's start,
"first", when none is), hands each batch of deliveries to `record` and stores the offset
after the batch in the same transaction, then acks. A crash in between reads the batch again,
so `record` must keep an event it has seen once (an inbox, a key). History and live feed
come through the same subscription: there is no gap between a replay and what follows it.
An offset below the stream's first retained one (retention dropped it) starts there.

The position write is a compare-and-set: it moves the stored offset on only if it still holds
the one this follower subscribed from or last wrote. Anything else (a rebuild deleted it,
another follower wrote it) is `PositionMoved`: the batch is rolled back and the follower
subscribes again from what is stored, so a rebuild needs no restart of the follower.

Users: the journal's index (order_service/journal.py) and the catalog copy
(order_service/catalog_follower.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from messaging.backoff import backoff_seconds
from messaging.broker import connection_parameters
from messaging.relay import BROKER_DOWN, DATABASE_DOWN
from messaging.runloop import run_until_stopped

log = logging.getLogger("stream")


def stream_position_table(metadata: sa.MetaData, name: str) -> sa.Table:
    """The offset to read from next, one row per stream (a database may follow several)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("stream", sa.String(100), primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def stored_offset(connection: sa.Connection, position: sa.Table, *, stream: str) -> int | None:
    """The offset to read from next (None: nothing recorded yet, or a rebuild forgot it)."""
    return connection.execute(sa.select(position.c.next_offset).where(position.c.stream == stream)).scalar()


@dataclass(frozen=True)
class Delivery:
    offset: int  # the stream's, the message's place in it
    properties: Any  # pika.BasicProperties: its headers (traceparent) and ids
    body: bytes


class PositionMoved(Exception):
    """The stored offset is not the one this follower read from or last wrote."""


class StreamFollower:
    """One batch per unit of messaging.runloop: what the stream delivered (waiting up to
    `idle_seconds` for the first), at most `batch_size`, recorded in one transaction by
    `record(connection, deliveries)`."""

    def __init__(
        self,
        *,
        stream: str,
        position: sa.Table,
        record: Callable[[sa.Connection, list[Delivery]], None],
        engine: sa.Engine,
        broker_url: str,
        batch_size: int = 500,
        idle_seconds: float = 1.0,
        liveness_file: str | None = None,
    ) -> None:
        self.stream, self.position, self.record = stream, position, record
        self.engine = engine
        self.broker_url = broker_url
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.liveness_file = liveness_file
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._delivered: list[tuple[Any, Any, bytes]] = []
        self._stored: int | None = None  # what the position row holds, as far as this follower knows

    def follow_batch(self) -> int:
        """Returns how many deliveries it recorded (0 also when the position had moved)."""
        if self._connection is None:
            self._subscribe()
        assert self._connection is not None
        if not self._delivered:
            self._connection.process_data_events(time_limit=self.idle_seconds)
        self._connection.process_data_events(time_limit=0)  # what else is already here
        batch, self._delivered = self._delivered[: self.batch_size], self._delivered[self.batch_size :]
        if not batch:
            self._notice_moved_position()
            return 0
        deliveries = [
            Delivery(int(properties.headers["x-stream-offset"]), properties, body)
            for _method, properties, body in batch
        ]
        next_offset = deliveries[-1].offset + 1
        try:
            with self.engine.begin() as connection:
                # The position first: its row lock orders this batch against a rebuild, which
                # deletes that row before what the batches built (no deadlock, no batch between).
                self._advance(connection, next_offset)
                self.record(connection, deliveries)
        except PositionMoved as moved:
            self._start_again(str(moved))
            return 0
        self._stored = next_offset
        self._channel.basic_ack(batch[-1][0].delivery_tag, multiple=True)
        return len(batch)

    def follow_once(self) -> float:
        """A unit of the run loop: a batch waits for its deliveries itself, so no rest after."""
        self.follow_batch()
        return 0.0

    def _notice_moved_position(self) -> None:
        """Idle, no position write would notice a rebuild, and the copy would stay empty until
        the next event: so an idle pass reads the position (one primary-key read per pass)."""
        with self.engine.connect() as connection:
            stored = stored_offset(connection, self.position, stream=self.stream)
        if stored != self._stored:
            self._start_again(f"the stored position is now {stored}, not {self._stored}")

    def _start_again(self, why: str) -> None:
        log.info("%s: %s; subscribing again from the stored position", self.stream, why)
        self.reset()

    def _advance(self, connection: sa.Connection, next_offset: int) -> None:
        table = self.position
        moved: sa.Insert | sa.Update
        if self._stored is None:  # no row yet: only one follower may make it
            moved = insert(table).values(stream=self.stream, next_offset=next_offset)
            moved = moved.on_conflict_do_nothing(index_elements=["stream"])
        else:
            moved = (
                sa.update(table)
                .where(table.c.stream == self.stream, table.c.next_offset == self._stored)
                .values(next_offset=next_offset)
            )
        if connection.execute(moved).rowcount != 1:
            raise PositionMoved(f"the stored position is no longer {self._stored}")

    def _subscribe(self) -> None:
        """Consumes the stream from the stored position (its start, the first time). A stream
        asks for a prefetch, and acks only grant more credit: nothing is removed."""
        with self.engine.connect() as connection:
            self._stored = stored_offset(connection, self.position, stream=self.stream)
        start = "first" if self._stored is None else self._stored
        self._delivered = []
        self._connection = pika.BlockingConnection(connection_parameters(self.broker_url))
        self._channel = self._connection.channel()
        self._channel.basic_qos(prefetch_count=2 * self.batch_size)
        self._channel.basic_consume(
            self.stream,
            on_message_callback=lambda _channel, method, properties, body: self._delivered.append(
                (method, properties, body)
            ),
            arguments={"x-stream-offset": start},
        )
        log.info("%s: following from offset %s", self.stream, start)

    def run_forever(self, stop: threading.Event) -> None:
        run_until_stopped(
            self.follow_once,
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
