"""The journal's index: reads the `journal` stream (every event on `events`, from every
producer, as the broker keeps it: messaging.topology) and records each event under its
order in the order database, so that GET /orders/{id}/journal is one indexed query (a stream
can only be filtered by reading it, which does not scale to one value per order).

messaging.stream_follower follows the stream: it stores the offset to read from next in the
same transaction as the entries it covers, then acks; a crash in between reads them again,
and an event already recorded (also one a relay published twice) is kept once, by its id. A
delivery that is not an event envelope, or that the columns cannot hold, is skipped with a
warning: the stream keeps it, the index does not.

Run: python -m order_service.journal (DATABASE_URL: the order database; BROKER_URL: the order
service's user, which may read the stream; docs/security.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from messaging.database import make_engine
from messaging.envelope import MalformedEvent, envelope_from_json, trace_id_of
from messaging.http_input import UNSTORABLE
from messaging.logs import configure_logging
from messaging.runloop import stop_on_signals
from messaging.settings import Env, ProcessSettings, Role
from messaging.stream_follower import Delivery, StreamFollower
from messaging.topology import CATALOG_EVENTS, JOURNAL_STREAM
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
        # A product event's subject is its SKU: kept in the journal, about no order.
        order_id=None if envelope.type in CATALOG_EVENTS else envelope.order_id,
        event_type=envelope.type,
        producer=envelope.source,
        occurred_at=occurred_at,
        trace_id=trace_id_of(((properties.headers if properties else None) or {}).get(TRACEPARENT)),
    )


def record_entries(connection: sa.Connection, deliveries: list[Delivery]) -> None:
    """The index's rows for a batch of the stream, in the follower's transaction."""
    entries = []
    for delivery in deliveries:
        if (entry := journal_entry(delivery.offset, delivery.properties, delivery.body)) is None:
            log.warning("journal offset %d skipped: not an event the index can hold", delivery.offset)
        else:
            entries.append(entry)
    db.record_journal(connection, entries)


def journal_indexer(*, engine: sa.Engine, broker_url: str, **options: Any) -> StreamFollower:
    """`options`: StreamFollower's batch_size, idle_seconds, liveness_file."""
    return StreamFollower(
        stream=JOURNAL_STREAM,
        position=db.journal_position,
        record=record_entries,
        engine=engine,
        broker_url=broker_url,
        **options,
    )


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
    indexer = journal_indexer(
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
