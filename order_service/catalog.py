"""The order service's copy of the inventory's catalog (event-carried state transfer).

The inventory is the single writer of products; it announces each change as a product
event carrying the product's whole state and its version. The copy keeps, per SKU, the
state of the highest version it has read, so a duplicate or a late event changes nothing.
Orders and the catalog endpoints read the copy and never call the inventory for it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from messaging.database import from_row
from messaging.envelope import Envelope
from messaging.http_input import UNSTORABLE
from messaging.inbox import Inbox, inbox_table
from messaging.metrics import CATALOG_LAG_SECONDS
from messaging.topology import CATALOG_EVENTS, CATALOG_STREAM
from messaging.validation import integer_error
from order_service.db import journal_position, metadata
from order_service.domain import CatalogItem

log = logging.getLogger("catalog")

catalog = sa.Table(
    "catalog",
    metadata,
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("availability", sa.String(20), nullable=False),
    sa.Column("removed", sa.Boolean, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("copied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
# Its own inbox: a rebuild forgets the events with the copy they built, and reads them again.
catalog_inbox = Inbox(inbox_table(metadata, "catalog_inbox"), consumer="catalog")


def list_items(connection: sa.Connection, *, removed: bool = False) -> list[CatalogItem]:
    """Every product on sale (`removed`: the removed ones too), by SKU."""
    query = sa.select(catalog).order_by(catalog.c.sku)
    if not removed:
        query = query.where(catalog.c.removed.is_(False))
    return [from_row(CatalogItem, row) for row in connection.execute(query)]


def find_items(connection: sa.Connection, *, skus: list[str]) -> dict[str, CatalogItem]:
    """The copy's products among `skus` (removed ones included), by SKU; unknown ones are absent."""
    if not skus:
        return {}
    rows = connection.execute(sa.select(catalog).where(catalog.c.sku.in_(skus)))
    return {row.sku: from_row(CatalogItem, row) for row in rows}


# What the columns hold: an event with more is skipped, never a batch the database refuses.
SKU_WIDTH, AVAILABILITY_WIDTH, EVENT_ID_WIDTH = 64, 20, 100
MAX_PRICE_CENTS, MAX_VERSION = 2**31 - 1, 2**63 - 1  # INTEGER, BIGINT


def product_row(envelope: Envelope) -> dict[str, Any] | None:
    """The copy's row for a product event, or None when it is not one the copy can hold.
    A tolerant reader: the fields the copy keeps, each checked for its type and its column;
    any others ignored. An availability word it does not know is kept (a newer inventory)."""
    data = envelope.data
    sku, name, availability = data.get("sku"), data.get("name"), data.get("availability")
    texts = (envelope.id, sku, name, availability)
    if envelope.type not in CATALOG_EVENTS or not all(isinstance(t, str) and t for t in texts):
        return None
    if any(UNSTORABLE.search(text) for text in texts) or len(envelope.id) > EVENT_ID_WIDTH:
        return None
    if len(sku) > SKU_WIDTH or len(availability) > AVAILABILITY_WIDTH:
        return None
    price_cents, version, removed = data.get("price_cents"), data.get("version"), data.get("removed")
    if integer_error(price_cents, minimum=0, maximum=MAX_PRICE_CENTS) or not isinstance(removed, bool):
        return None
    if integer_error(version, minimum=1, maximum=MAX_VERSION):
        return None
    changed_at = _aware_time(data.get("changed_at"))
    if changed_at is None:
        return None
    return {
        "sku": sku,
        "name": name,
        "price_cents": price_cents,
        "availability": availability,
        "removed": removed,
        "version": version,
        "changed_at": changed_at,
    }


def _aware_time(value: Any) -> datetime | None:
    """An RFC 3339 time with its offset (a naive one names no instant)."""
    try:
        time = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return time if time is not None and time.tzinfo is not None else None


_new = insert(catalog)
# A product's state is taken only over a lower version: a duplicate, a replay or an event that
# arrives after a later one changes nothing, so a price never goes back. RETURNING answers the
# rows inserted or updated, not those the WHERE kept: the events applied.
_UPSERT = _new.on_conflict_do_update(
    index_elements=[catalog.c.sku],
    set_={
        **{name: _new.excluded[name] for name in ("name", "price_cents", "availability", "removed")},
        "version": _new.excluded.version,
        "changed_at": _new.excluded.changed_at,
        "copied_at": sa.func.now(),
    },
    where=catalog.c.version < _new.excluded.version,
).returning(catalog.c.changed_at, catalog.c.copied_at)


def apply_product_events(connection: sa.Connection, envelopes: list[Envelope]) -> int:
    """Takes a batch of product events into the copy, in the caller's transaction (with the
    stream position, messaging.stream_follower); returns how many products changed. Events the
    inbox has seen are dropped; of the rest, each product's highest version is upserted (one
    statement, which may touch a row once). An event the copy cannot hold is skipped with a
    warning: the stream keeps it, and a crash loop over it would stop the copy for good."""
    readable = []
    for envelope in envelopes:
        if (row := product_row(envelope)) is None:
            log.warning("catalog event %s (%s) skipped: not a product event the copy can hold",
                        envelope.id[:EVENT_ID_WIDTH], envelope.type[:EVENT_ID_WIDTH])  # fmt: skip
        else:
            readable.append((envelope, row))
    first = catalog_inbox.first_deliveries(connection, [(e.id, e.type) for e, _row in readable])
    newest: dict[str, dict[str, Any]] = {}
    for envelope, row in readable:
        if envelope.id not in first:
            continue
        first.discard(envelope.id)  # the same event twice in one batch: once
        held = newest.get(row["sku"])
        if held is None or row["version"] > held["version"]:
            newest[row["sku"]] = row
    if not newest:
        return 0
    # By SKU: rows locked in one order whoever writes them.
    applied = connection.execute(_UPSERT, [newest[sku] for sku in sorted(newest)]).all()
    for changed_at, copied_at in applied:
        CATALOG_LAG_SECONDS.observe(max(0.0, (copied_at - changed_at).total_seconds()))
    return len(applied)


def empty_copy(connection: sa.Connection) -> int:
    """Forgets the copy, the events it read and where it was in the stream, in the caller's
    transaction, so its follower reads the stream again from its start; returns how many
    products it held. The position first: that row lock waits for a batch in flight to commit
    and stops the next one (it finds the position gone, rolls back and subscribes from
    "first"), so no batch lands in between."""
    connection.execute(sa.delete(journal_position).where(journal_position.c.stream == CATALOG_STREAM))
    products = connection.execute(sa.delete(catalog)).rowcount
    connection.execute(sa.delete(catalog_inbox.table))
    return products
