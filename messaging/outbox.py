"""Transactional outbox: an event is written in the same transaction as the state change."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from messaging.database import first_unlocked
from messaging.envelope import Envelope, envelope_from_dict
from messaging.tracing import current_traceparent

NOTIFY_CHANNEL = "outbox"


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.String(100), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Index("outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")),
    )


class Outbox:
    def __init__(self, table: sa.Table) -> None:
        self.table = table

    def add(self, connection: sa.Connection, *envelopes: Envelope) -> None:
        """Call inside the transaction that makes the change the events announce (one
        statement for all of them). An event without a traceparent gets the current span's:
        the relay continues that trace."""
        traceparent = current_traceparent()
        rows = [
            {"event_id": envelope.id, "event_type": envelope.type, "envelope": envelope.to_dict()}
            for envelope in (
                replace(envelope, traceparent=traceparent)
                if envelope.traceparent is None and traceparent
                else envelope
                for envelope in envelopes
            )
        ]
        # The rows, and a NOTIFY that wakes the relay at commit time (NOTIFY is transactional;
        # polling is the fallback): one statement, one round trip.
        added = self.table.insert().values(rows).returning(self.table.c.id).cte("added")
        connection.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")).add_cte(added))

    def claim_unsent(self, connection: sa.Connection, *, limit: int) -> list[tuple[int, Envelope]]:
        # SKIP LOCKED lets several relays share one outbox without publishing a row twice.
        rows = connection.execute(
            first_unlocked(
                self.table.c.id,
                self.table.c.envelope,
                where=[self.table.c.sent_at.is_(None)],
                order_by=[self.table.c.id],
                limit=limit,
            )
        ).all()
        return [(row.id, envelope_from_dict(row.envelope)) for row in rows]

    def backlog(self, connection: sa.Connection) -> tuple[int, float]:
        """(unsent rows, age in seconds of the oldest; 0 when none), by the database's clock.
        For the relay's scrape-time gauges: the partial index outbox_unsent finds the rows."""
        unsent = self.table.c.sent_at.is_(None)
        row = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.extract("epoch", sa.func.now() - sa.func.min(self.table.c.created_at)),
            ).where(unsent)
        ).one()
        return row[0], float(row[1] or 0.0)

    def mark_sent(self, connection: sa.Connection, row_id: int) -> None:
        connection.execute(
            self.table.update()
            .where(self.table.c.id == row_id)
            .values(sent_at=sa.func.now(), attempts=self.table.c.attempts + 1, last_error=None)
        )

    def mark_failed(self, connection: sa.Connection, row_id: int, error: str) -> None:
        connection.execute(
            self.table.update()
            .where(self.table.c.id == row_id)
            .values(attempts=self.table.c.attempts + 1, last_error=error[:500])
        )
