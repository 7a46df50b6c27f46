"""Tables and small queries (SQLAlchemy Core). Each function runs inside the caller's transaction."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from inventory_service.domain import (
    Product,
    ProductSpec,
    Reservation,
    ReservationStatus,
    ReservedLine,
)

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
    # The last line of defence against overselling: no code path can make stock negative.
    sa.CheckConstraint("price_cents >= 0", name="products_price_cents_not_negative"),
    sa.CheckConstraint("available >= 0", name="products_available_not_negative"),
    sa.CheckConstraint("reserved >= 0", name="products_reserved_not_negative"),
    sa.CheckConstraint("sold >= 0", name="products_sold_not_negative"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("status IN ('RESERVED', 'COMMITTED', 'RELEASED')", name="reservations_status_known"),
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


# --- products -------------------------------------------------------------------------------


def _product(row: sa.Row) -> Product:
    return Product(
        sku=row.sku,
        name=row.name,
        price_cents=row.price_cents,
        available=row.available,
        reserved=row.reserved,
        sold=row.sold,
    )


def list_products(connection: sa.Connection) -> list[Product]:
    return [_product(row) for row in connection.execute(sa.select(products).order_by(products.c.sku))]


def find_product(connection: sa.Connection, *, sku: str) -> Product | None:
    row = connection.execute(sa.select(products).where(products.c.sku == sku)).first()
    return _product(row) if row else None


def upsert_product(connection: sa.Connection, *, sku: str, spec: ProductSpec) -> tuple[Product, bool]:
    """Returns the product and whether it was created. A concurrent PUT of a new SKU makes
    the insert a no-op, and then the update applies: last writer wins, never an error."""
    values = {"name": spec.name, "price_cents": spec.price_cents, "available": spec.available}
    row = connection.execute(
        insert(products)
        .values(sku=sku, **values)
        .on_conflict_do_nothing(index_elements=["sku"])
        .returning(products)
    ).first()
    if row:
        return _product(row), True
    row = connection.execute(
        products.update()
        .where(products.c.sku == sku)
        .values(**values, updated_at=sa.func.now())
        .returning(products)
    ).one()
    return _product(row), False


def product_exists(connection: sa.Connection, *, sku: str) -> bool:
    return connection.execute(sa.select(sa.literal(1)).where(products.c.sku == sku)).first() is not None


def take_stock(connection: sa.Connection, *, sku: str, quantity: int) -> int | None:
    """Moves `quantity` from available to reserved; returns the unit price, or None when
    the SKU is unknown or short. Under Read Committed, PostgreSQL re-checks the WHERE after
    waiting for a concurrent buyer's row lock, so this never oversells."""
    row = connection.execute(
        products.update()
        .where(products.c.sku == sku, products.c.available >= quantity)
        .values(
            available=products.c.available - quantity,
            reserved=products.c.reserved + quantity,
            updated_at=sa.func.now(),
        )
        .returning(products.c.price_cents)
    ).first()
    return row.price_cents if row else None


def move_reserved(
    connection: sa.Connection, *, lines: tuple[ReservedLine, ...], to: Literal["sold", "available"]
) -> None:
    """Moves reserved units to `sold` (commit) or back to `available` (release)."""
    target = products.c[to]
    for line in sorted(lines, key=lambda each: each.sku):  # the same lock order as take_stock
        connection.execute(
            products.update()
            .where(products.c.sku == line.sku)
            .values(
                {
                    products.c.reserved: products.c.reserved - line.quantity,
                    target: target + line.quantity,
                    products.c.updated_at: sa.func.now(),
                }
            )
        )


# --- reservations ---------------------------------------------------------------------------


def insert_reservation(connection: sa.Connection, *, order_id: str, status: ReservationStatus) -> bool:
    """True when this transaction created the row. A concurrent insert of the same order
    waits here until the other transaction ends, so only one of them ever takes stock."""
    result = connection.execute(
        insert(reservations)
        .values(order_id=order_id, status=status.value)
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
    query = sa.select(reservations).where(reservations.c.order_id == order_id)
    if for_update:
        # Serialises commit/release/replay of one order: only one of them can win.
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        return None
    lines = connection.execute(
        sa.select(reservation_lines)
        .where(reservation_lines.c.order_id == order_id)
        .order_by(reservation_lines.c.sku)
    )
    return Reservation(
        order_id=row.order_id,
        status=ReservationStatus(row.status),
        lines=tuple(
            ReservedLine(sku=line.sku, quantity=line.quantity, unit_price_cents=line.unit_price_cents)
            for line in lines
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def set_status(connection: sa.Connection, *, order_id: str, status: ReservationStatus) -> None:
    connection.execute(
        reservations.update()
        .where(reservations.c.order_id == order_id)
        .values(status=status.value, updated_at=sa.func.now())
    )
