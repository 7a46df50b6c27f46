"""Use cases of the inventory: each is one function running one database transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa

from inventory_service import db
from inventory_service.domain import (
    OutOfStock,
    Product,
    ProductNotFound,
    ProductSpec,
    ReleaseReason,
    Reservation,
    ReservationNotFound,
    ReservationRequest,
    ReservationStatus,
    ReservedLine,
    UnknownSku,
    check_replay,
    commit_target,
    release_target,
    restock_target,
    units_by_sku,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReservationOutcome:
    reservation: Reservation
    created: bool  # False: a retry of a request that already succeeded


def list_products(*, engine: sa.Engine) -> list[Product]:
    with engine.connect() as connection:
        return db.list_products(connection)


def get_product(*, engine: sa.Engine, sku: str) -> Product:
    with engine.connect() as connection:
        product = db.find_product(connection, sku=sku)
    if product is None:
        raise ProductNotFound(sku=sku)
    return product


def put_product(*, engine: sa.Engine, sku: str, spec: ProductSpec) -> tuple[Product, bool]:
    with engine.begin() as connection:
        return db.upsert_product(connection, sku=sku, spec=spec)


def reserve_stock(
    *, engine: sa.Engine, request: ReservationRequest, hold_seconds: float
) -> ReservationOutcome:
    """All lines or none: any short or unknown SKU raises, and the transaction (the
    reservation row and every stock already taken) rolls back. Held for `hold_seconds`,
    after which `expire_reservations` gives the units back unless committed or released."""
    with engine.begin() as connection:
        # The reservation row first: a concurrent duplicate waits on it, then sees ours.
        if not db.insert_reservation(
            connection, order_id=request.order_id, hold=timedelta(seconds=hold_seconds)
        ):
            existing = db.find_reservation(connection, order_id=request.order_id)
            if existing is None:  # the row exists, so only a concurrent delete could do this
                raise ReservationNotFound(order_id=request.order_id)
            return ReservationOutcome(
                reservation=check_replay(existing=existing, request=request), created=False
            )
        taken: list[ReservedLine] = []
        for line in request.lines:  # sorted by SKU: a fixed lock order across orders
            price = db.take_stock(connection, sku=line.sku, quantity=line.quantity)
            if price is None:
                if db.product_exists(connection, sku=line.sku):
                    raise OutOfStock(sku=line.sku)
                raise UnknownSku(sku=line.sku)
            taken.append(ReservedLine(sku=line.sku, quantity=line.quantity, unit_price_cents=price))
        db.add_lines(connection, order_id=request.order_id, lines=taken)
        reservation = _reload(connection, order_id=request.order_id)
    _log_status(reservation)
    return ReservationOutcome(reservation=reservation, created=True)


def _log_status(reservation: Reservation) -> None:
    """One line per change of a reservation (reserved, sold, released), once committed."""
    order_id = reservation.order_id
    log.info("order %s: reservation %s", order_id, reservation.status, extra={"order_id": order_id})


def commit_reservation(*, engine: sa.Engine, order_id: str) -> Reservation:
    with engine.begin() as connection:
        reservation = _transition(
            connection, order_id=order_id, rule=commit_target, source="reserved", target="sold"
        )
    _log_status(reservation)
    return reservation


def release_reservation(*, engine: sa.Engine, order_id: str) -> Reservation:
    """Releasing an order never reserved leaves a RELEASED tombstone, so that a reserve
    arriving late (e.g. a timed-out call that is still in flight) cannot take stock."""
    with engine.begin() as connection:
        if db.insert_tombstone(connection, order_id=order_id):
            reservation = _reload(connection, order_id=order_id)
        else:
            reservation = _transition(
                connection,
                order_id=order_id,
                rule=release_target,
                source="reserved",
                target="available",
                release_reason=ReleaseReason.ORDER,
            )
    _log_status(reservation)
    return reservation


def restock_reservation(*, engine: sa.Engine, order_id: str) -> Reservation:
    """An order cancelled after its stock was committed: its sold units go back on sale, once."""
    with engine.begin() as connection:
        reservation = _transition(
            connection, order_id=order_id, rule=restock_target, source="sold", target="available"
        )
    _log_status(reservation)
    return reservation


def _transition(
    connection: sa.Connection,
    *,
    order_id: str,
    rule: Callable[..., ReservationStatus | None],
    source: Literal["reserved", "sold"],
    target: Literal["sold", "available"],
    release_reason: ReleaseReason | None = None,
) -> Reservation:
    """Commit, release and restock: the reservation is locked, `rule` (domain.py) names the
    status it moves to, and its units move from the `source` column to the `target` one. A
    transition that already happened changes nothing and answers the reservation as it is."""
    current = db.find_reservation(connection, order_id=order_id, for_update=True)
    if current is None:
        raise ReservationNotFound(order_id=order_id)
    status = rule(order_id=order_id, current=current.status)
    if status is None:
        return current
    db.move_units(connection, units=units_by_sku(lines=current.lines), source=source, target=target)
    db.set_status(connection, order_ids=[order_id], status=status, release_reason=release_reason)
    return _reload(connection, order_id=order_id)


def expire_reservations(*, engine: sa.Engine, now: datetime | None = None, limit: int = 100) -> list[str]:
    """Releases up to `limit` RESERVED reservations whose hold ran out by `now` (default:
    the database's clock), in one transaction; returns their order ids. A reservation is
    expired at most once, whatever the number of concurrent expirers."""
    with engine.begin() as connection:
        order_ids = db.claim_expired(connection, now=now, limit=limit)
        if not order_ids:
            return []
        # Summed per SKU and applied in SKU order, like every other writer of products.
        units = units_by_sku(lines=db.lines_of(connection, order_ids=order_ids))
        db.move_units(connection, units=units, source="reserved", target="available")
        db.set_status(
            connection,
            order_ids=order_ids,
            status=ReservationStatus.RELEASED,
            release_reason=ReleaseReason.EXPIRED,
        )
    return order_ids


def get_reservation(*, engine: sa.Engine, order_id: str) -> Reservation:
    with engine.connect() as connection:
        return _reload(connection, order_id=order_id)


def _reload(connection: sa.Connection, *, order_id: str) -> Reservation:
    # Answers are always read back from the database, so a replay serialises identically.
    reservation = db.find_reservation(connection, order_id=order_id)
    if reservation is None:
        raise ReservationNotFound(order_id=order_id)
    return reservation
