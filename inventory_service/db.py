"""Tables and small queries (SQLAlchemy Core). Each function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from inventory_service.catalog import PRODUCT_SNAPSHOT
from inventory_service.domain import (
    Product,
    ProductSpec,
    ReleaseReason,
    Reservation,
    ReservationStatus,
    ReservedLine,
)
from messaging.database import first_unlocked, from_row
from messaging.outbox import Outbox, outbox_table

metadata = sa.MetaData()

products = sa.Table(
    "products",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("available", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sold", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # One more at each change the catalog's events carry (inventory_service/catalog.py).
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    # Removed from sale (soft: reservation lines keep referring to the product).
    sa.Column("removed_at", sa.DateTime(timezone=True)),
    # The last line of defence against overselling: no code path can make stock negative.
    sa.CheckConstraint("price_cents >= 0", name="products_price_cents_not_negative"),
    sa.CheckConstraint("available >= 0", name="products_available_not_negative"),
    sa.CheckConstraint("reserved >= 0", name="products_reserved_not_negative"),
    sa.CheckConstraint("sold >= 0", name="products_sold_not_negative"),
    sa.CheckConstraint("version >= 1", name="products_version_positive"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("release_reason", sa.Text),
    sa.CheckConstraint(
        "status IN ('RESERVED', 'COMMITTED', 'RELEASED', 'RESTOCKED')", name="reservations_status_known"
    ),
    sa.CheckConstraint("status <> 'RESERVED' OR expires_at IS NOT NULL", name="reservations_hold_expires"),
    sa.CheckConstraint(
        "(status = 'RELEASED') = (release_reason IS NOT NULL)", name="reservations_release_reason_set"
    ),
    sa.CheckConstraint("release_reason IN ('order', 'expired')", name="reservations_release_reason_known"),
    # The expirer's scan: only the holds still running.
    sa.Index("reservations_expiring", "expires_at", postgresql_where=sa.text("status = 'RESERVED'")),
)

reservation_lines = sa.Table(
    "reservation_lines",
    metadata,
    sa.Column("order_id", sa.Text, sa.ForeignKey("reservations.order_id"), primary_key=True),
    sa.Column("sku", sa.Text, sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price_cents", sa.Integer, nullable=False),
    sa.CheckConstraint("quantity > 0", name="reservation_lines_quantity_positive"),
    sa.CheckConstraint("unit_price_cents >= 0", name="reservation_lines_unit_price_not_negative"),
)

# The catalog's product events (catalog.py), published by inventory-relay.
outbox = Outbox(outbox_table(metadata))
# The expirer's question, when was the last snapshot written, is one index lookup.
sa.Index(
    "outbox_snapshots",
    outbox.table.c.created_at,
    postgresql_where=sa.text(f"event_type = '{PRODUCT_SNAPSHOT}'"),
)
# Serialises the expirers' check for a due snapshot (snapshot_due): any key no one else takes.
SNAPSHOT_LOCK = 0x5AA95407


# --- products -------------------------------------------------------------------------------

ON_SALE = products.c.removed_at.is_(None)


def list_products(connection: sa.Connection) -> list[Product]:
    """The products on sale, by SKU (a removed one is not)."""
    query = sa.select(products).where(ON_SALE).order_by(products.c.sku)
    return [from_row(Product, row) for row in connection.execute(query)]


def products_after(connection: sa.Connection, *, sku: str | None, limit: int) -> list[Product]:
    """Up to `limit` products, removed ones included, by SKU, from the one after `sku` (None:
    the first): the catalog a batch at a time."""
    query = sa.select(products).order_by(products.c.sku).limit(limit)
    if sku is not None:
        query = query.where(products.c.sku > sku)
    return [from_row(Product, row) for row in connection.execute(query)]


def find_product(
    connection: sa.Connection, *, sku: str, removed: bool = False, for_update: bool = False
) -> Product | None:
    """The product on sale (`removed`: or removed); `for_update` locks it for the transaction."""
    query = sa.select(products).where(products.c.sku == sku)
    if not removed:
        query = query.where(ON_SALE)
    if for_update:
        query = query.with_for_update()
    row = connection.execute(query).first()
    return from_row(Product, row) if row else None


def insert_product(connection: sa.Connection, *, sku: str, spec: ProductSpec) -> Product | None:
    """The product created at version 1, or None when the SKU exists (removed or not). A
    concurrent insert of the same SKU waits here until the other transaction ends."""
    row = connection.execute(
        insert(products)
        .values(sku=sku, name=spec.name, price_cents=spec.price_cents, available=spec.available)
        .on_conflict_do_nothing(index_elements=["sku"])
        .returning(products)
    ).first()
    return from_row(Product, row) if row else None


def update_product(connection: sa.Connection, *, sku: str, spec: ProductSpec, new_version: bool) -> Product:
    """Sets what a PUT sets and puts the product back on sale; `new_version`: one more version
    (the change is one the events carry). The caller holds the row's lock (find_product)."""
    row = connection.execute(
        products.update()
        .where(products.c.sku == sku)
        .values(
            name=spec.name,
            price_cents=spec.price_cents,
            available=spec.available,
            removed_at=None,
            version=products.c.version + (1 if new_version else 0),
            updated_at=sa.func.now(),
        )
        .returning(products)
    ).one()
    return from_row(Product, row)


def remove_product(connection: sa.Connection, *, sku: str) -> Product | None:
    """Takes the product off sale at a new version; None when it is unknown or already removed.
    Kept, not deleted: reservation lines refer to it."""
    row = connection.execute(
        products.update()
        .where(products.c.sku == sku, ON_SALE)
        .values(removed_at=sa.func.now(), version=products.c.version + 1, updated_at=sa.func.now())
        .returning(products)
    ).first()
    return from_row(Product, row) if row else None


def new_versions(connection: sa.Connection, *, skus: list[str]) -> list[Product]:
    """One more version of each product, as it then is. For rows this transaction already
    changed (and locked): no other lock is taken."""
    rows = connection.execute(
        products.update()
        .where(products.c.sku.in_(skus))
        .values(version=products.c.version + 1)
        .returning(products)
    )
    return [from_row(Product, row) for row in rows]


def product_exists(connection: sa.Connection, *, sku: str, removed: bool = False) -> bool:
    """Whether the product is on sale (`removed`: or removed)."""
    query = sa.select(sa.literal(1)).where(products.c.sku == sku)
    return connection.execute(query if removed else query.where(ON_SALE)).first() is not None


def take_stock(connection: sa.Connection, *, sku: str, quantity: int) -> tuple[int, int] | None:
    """Moves `quantity` from available to reserved; returns the unit price and the units then
    available, or None when the SKU is unknown, removed or short. Under Read Committed,
    PostgreSQL re-checks the WHERE after waiting for a concurrent buyer's row lock, so this
    never oversells."""
    row = connection.execute(
        products.update()
        .where(products.c.sku == sku, products.c.available >= quantity, ON_SALE)
        .values(
            available=products.c.available - quantity,
            reserved=products.c.reserved + quantity,
            updated_at=sa.func.now(),
        )
        .returning(products.c.price_cents, products.c.available)
    ).first()
    return (row.price_cents, row.available) if row else None


def move_units(
    connection: sa.Connection,
    *,
    units: Mapping[str, int],
    source: Literal["reserved", "sold"],
    target: Literal["sold", "available"],
) -> dict[str, int]:
    """Moves units per SKU between columns: reserved -> sold (commit), reserved -> available
    (release, expiry), sold -> available (restock). The total of a product never changes.
    Returns the units then available, per SKU."""
    source_column, target_column = products.c[source], products.c[target]
    available = {}
    for sku in sorted(units):  # the same lock order as take_stock: no deadlock between them
        available[sku] = connection.execute(
            products.update()
            .where(products.c.sku == sku)
            .values(
                {
                    source_column: source_column - units[sku],
                    target_column: target_column + units[sku],
                    products.c.updated_at: sa.func.now(),
                }
            )
            .returning(products.c.available)
        ).scalar_one()
    return available


# --- the catalog's snapshots ----------------------------------------------------------------


def snapshot_due(connection: sa.Connection, *, every_seconds: float) -> bool:
    """Whether no product.snapshot was written in the last `every_seconds` (or ever), by the
    database's clock. Takes a lock until the transaction ends, so that of two expirers
    asking at once the second sees the first's snapshot (once committed) and writes none."""
    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SNAPSHOT_LOCK)))
    table = outbox.table
    stale = sa.func.max(table.c.created_at) <= sa.func.now() - sa.literal(
        timedelta(seconds=every_seconds), sa.Interval
    )
    query = sa.select(sa.func.coalesce(stale, sa.true())).where(table.c.event_type == PRODUCT_SNAPSHOT)
    return connection.execute(query).scalar_one()


# --- reservations ---------------------------------------------------------------------------


def insert_reservation(connection: sa.Connection, *, order_id: str, hold: timedelta) -> bool:
    """A RESERVED row held for `hold` (the database's clock, the one the expirer reads);
    True when this transaction created it. A concurrent insert of the same order waits
    here until the other transaction ends, so only one of them ever takes stock."""
    return _insert(
        connection, order_id=order_id, status=ReservationStatus.RESERVED, expires_at=sa.func.now() + hold
    )


def insert_tombstone(connection: sa.Connection, *, order_id: str) -> bool:
    """A RELEASED row for an order never reserved; True when this transaction created it."""
    return _insert(
        connection, order_id=order_id, status=ReservationStatus.RELEASED, release_reason=ReleaseReason.ORDER
    )


def _insert(connection: sa.Connection, *, order_id: str, status: ReservationStatus, **values: object) -> bool:
    result = connection.execute(
        insert(reservations)
        .values(order_id=order_id, status=status.value, **values)
        .on_conflict_do_nothing(index_elements=["order_id"])
    )
    return result.rowcount == 1


def add_lines(connection: sa.Connection, *, order_id: str, lines: list[ReservedLine]) -> None:
    connection.execute(
        reservation_lines.insert(),
        [
            {
                "order_id": order_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
            }
            for line in lines
        ],
    )


def find_reservation(
    connection: sa.Connection, *, order_id: str, for_update: bool = False
) -> Reservation | None:
    """The reservation and its lines in one statement (a row per line; a tombstone has none)."""
    rows = connection.execute(_find_reservation_statement(for_update), {"order_id": order_id}).all()
    if not rows:
        return None
    row = rows[0]
    return from_row(
        Reservation,
        row,
        status=ReservationStatus(row.status),
        lines=tuple(from_row(ReservedLine, line) for line in rows if line.sku is not None),
        release_reason=ReleaseReason(row.release_reason) if row.release_reason else None,
    )


@cache  # built once: constructing a join's column collection per call cost more than running it
def _find_reservation_statement(for_update: bool) -> sa.Select:
    lines = reservation_lines
    query = (
        sa.select(reservations, lines.c.sku, lines.c.quantity, lines.c.unit_price_cents)
        .select_from(reservations.outerjoin(lines, lines.c.order_id == reservations.c.order_id))
        .where(reservations.c.order_id == sa.bindparam("order_id"))
        .order_by(lines.c.sku)
    )
    # FOR UPDATE serialises commit/release/replay of one order: only one of them can win.
    return query.with_for_update(of=reservations) if for_update else query


def set_status(
    connection: sa.Connection,
    *,
    order_ids: list[str],
    status: ReservationStatus,
    release_reason: ReleaseReason | None = None,
) -> None:
    connection.execute(
        reservations.update()
        .where(reservations.c.order_id.in_(order_ids))
        .values(
            status=status.value,
            release_reason=release_reason.value if release_reason else None,
            updated_at=sa.func.now(),
        )
    )


def claim_expired(connection: sa.Connection, *, now: datetime | None, limit: int) -> list[str]:
    """Locks up to `limit` RESERVED reservations whose hold ran out by `now` (default: the
    database's clock). SKIP LOCKED: concurrent expirers take disjoint rows and never wait on
    a commit or release in progress; PostgreSQL re-checks the status of a row it locks, so
    a reservation committed or released meanwhile is not taken."""
    cutoff = sa.func.now() if now is None else sa.literal(now, sa.DateTime(timezone=True))
    query = first_unlocked(
        reservations.c.order_id,
        where=[
            reservations.c.status == ReservationStatus.RESERVED.value,
            reservations.c.expires_at <= cutoff,
        ],
        order_by=[reservations.c.expires_at, reservations.c.order_id],
        limit=limit,
    )
    return list(connection.execute(query).scalars())


def lines_of(connection: sa.Connection, *, order_ids: list[str]) -> list[ReservedLine]:
    rows = connection.execute(sa.select(reservation_lines).where(reservation_lines.c.order_id.in_(order_ids)))
    return [from_row(ReservedLine, row) for row in rows]
