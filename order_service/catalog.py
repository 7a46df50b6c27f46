"""The order service's copy of the inventory's catalog (event-carried state transfer).

The inventory is the single writer of products; it announces each change as a product
event carrying the product's whole state and its version. The copy keeps, per SKU, the
state of the highest version it has read, so a duplicate or a late event changes nothing.
Orders and the catalog endpoints read the copy and never call the inventory for it.
"""

from __future__ import annotations

import sqlalchemy as sa

from messaging.database import from_row
from messaging.inbox import Inbox, inbox_table
from order_service.db import metadata
from order_service.domain import CatalogItem

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
