"""Idempotent consumer: remembers which messages already had their effect."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from messaging.metrics import CONSUMER_DUPLICATES


def inbox_table(metadata: sa.MetaData, name: str = "inbox") -> sa.Table:
    """`name`: another inbox than the service's one, for messages whose memory is dropped
    together with what they built (order_service/catalog.py: a rebuilt copy reads them again)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("message_id", sa.String(100), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


class Inbox:
    def __init__(self, table: sa.Table, *, consumer: str) -> None:
        """`consumer`: the queue these events come from, the label of the duplicates' counter
        (the same as the consumer step's: pipeline_consumer_events_total{consumer})."""
        self.table = table
        self._duplicates = CONSUMER_DUPLICATES.labels(consumer=consumer)
        # Built once and executed with a list of rows: SQLAlchemy sends them as one multi-row
        # INSERT ("insertmanyvalues") from a statement compiled once; building a VALUES list
        # per batch cost twice as much CPU.
        self._insert_new = (
            insert(table).on_conflict_do_nothing(index_elements=["message_id"]).returning(table.c.message_id)
        )

    def first_delivery(self, connection: sa.Connection, *, message_id: str, event_type: str) -> bool:
        """True the first time; write the effect in the same transaction, so both commit or neither."""
        return message_id in self.first_deliveries(connection, [(message_id, event_type)])

    def first_deliveries(self, connection: sa.Connection, messages: list[tuple[str, str]]) -> set[str]:
        """The ids, of these (message_id, event_type), seen for the first time: one statement
        for a whole batch. Same transaction as the effects, as for `first_delivery`."""
        if not messages:
            return set()
        rows = [{"message_id": message_id, "event_type": event_type} for message_id, event_type in messages]
        first = set(connection.execute(self._insert_new, rows).scalars())
        # Counted before the commit: a batch rolled back and retried event by event counts its
        # duplicates again (rare; the figure is an upper bound).
        if skipped := len(messages) - len(first):  # a message twice in the batch: once a duplicate
            self._duplicates.inc(skipped)
        return first
