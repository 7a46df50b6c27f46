"""HTTP API of the inventory (Flask app factory). Parses, calls a handler, serialises: no rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify, request

from inventory_service import handlers
from inventory_service.config import Settings, settings_from_env
from inventory_service.domain import (
    IdempotencyKeyReused,
    IllegalTransition,
    OutOfStock,
    Product,
    ProductNotFound,
    Reservation,
    ReservationCommitted,
    ReservationNotCommitted,
    ReservationNotFound,
    ReservationReleased,
    ReservationRestocked,
    UnknownSku,
    check_idempotency_key,
    check_restock_idempotency_key,
    parse_product_spec,
    parse_reservation_request,
    validate_order_id,
    validate_sku,
)
from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.guard import only_for
from messaging.http_input import json_body
from messaging.problems import VALIDATION_PROBLEMS, ProblemTable, ProblemType
from messaging.web import create_api, current_engine, extension

products_api = Blueprint("products", __name__)
reservations_api = Blueprint("reservations", __name__)


def _sku(error: OutOfStock | UnknownSku) -> dict[str, Any]:
    return {"sku": error.sku}


# The one place where domain words become stable problem codes. Flask answers with the entry
# of the most specific class: the Reservation* transitions before their IllegalTransition.
PROBLEMS: ProblemTable = {
    **VALIDATION_PROBLEMS,
    OutOfStock: ProblemType(409, "out-of-stock", "Not enough stock", extra=_sku),
    UnknownSku: ProblemType(422, "unknown-sku", "Unknown SKU", extra=_sku),
    ProductNotFound: ProblemType(404, "product-not-found", "No such product"),
    ReservationNotFound: ProblemType(404, "reservation-not-found", "No such reservation"),
    IdempotencyKeyReused: ProblemType(
        422, "idempotency-key-reused", "This order was reserved with other items"
    ),
    ReservationReleased: ProblemType(409, "reservation-released", "The reservation was released"),
    ReservationCommitted: ProblemType(409, "reservation-committed", "The reservation was committed"),
    ReservationNotCommitted: ProblemType(
        409, "reservation-not-committed", "The reservation is not committed"
    ),
    ReservationRestocked: ProblemType(409, "reservation-restocked", "The reservation was restocked"),
    IllegalTransition: ProblemType(409, "illegal-transition", "The reservation cannot make this transition"),
}


def create_app(settings: Settings | None = None, *, engine: sa.Engine | None = None) -> Flask:
    """`settings`: from the environment when None (gunicorn calls `create_app()`); `engine`:
    a test's own (no connection is made until the first query either way)."""
    settings = settings or settings_from_env(api=True)
    return create_api(
        __name__,
        settings=settings,
        engine=engine,
        problems=PROBLEMS,
        blueprints=[products_api, reservations_api],
        callers=settings.callers,
        openapi=Path(__file__).with_name("openapi.json"),
    )


# --- products -------------------------------------------------------------------------------


@products_api.get("/products")
def list_products():
    return jsonify([_product_json(product) for product in handlers.list_products(engine=current_engine())])


@products_api.get("/products/<sku>")
def get_product(sku: str):
    return _product_json(handlers.get_product(engine=current_engine(), sku=validate_sku(sku=sku)))


@products_api.put("/products/<sku>")
@only_for(ADMIN)  # the catalog is the operator's
def put_product(sku: str):
    validate_sku(sku=sku)
    spec = parse_product_spec(body=json_body())
    product, created = handlers.put_product(engine=current_engine(), sku=sku, spec=spec)
    return _product_json(product), 201 if created else 200


@products_api.delete("/products/<sku>")
@only_for(ADMIN)
def remove_product(sku: str):
    handlers.remove_product(engine=current_engine(), sku=validate_sku(sku=sku))
    return "", 204


# --- reservations ---------------------------------------------------------------------------


@reservations_api.post("/reservations")
@only_for(ORDER_SERVICE)
def reserve():
    reservation_request = parse_reservation_request(body=json_body())
    check_idempotency_key(
        header=request.headers.get("Idempotency-Key"), order_id=reservation_request.order_id
    )
    outcome = handlers.reserve_stock(
        engine=current_engine(),
        request=reservation_request,
        hold_seconds=extension("settings").reservation_hold_seconds,
    )
    if not outcome.created:
        return _reservation_json(outcome.reservation), 200
    location = f"/reservations/{outcome.reservation.order_id}"
    return _reservation_json(outcome.reservation), 201, {"Location": location}


@reservations_api.get("/reservations/<order_id>")
def get_reservation(order_id: str):
    return _on_reservation(handlers.get_reservation, order_id=order_id)


@reservations_api.post("/reservations/<order_id>/commit")
@only_for(ORDER_SERVICE)
def commit(order_id: str):
    return _on_reservation(handlers.commit_reservation, order_id=order_id)


@reservations_api.post("/reservations/<order_id>/release")
@only_for(ORDER_SERVICE)
def release(order_id: str):
    return _on_reservation(handlers.release_reservation, order_id=order_id)


def _on_reservation(handler: Callable[..., Reservation], *, order_id: str) -> dict[str, Any]:
    """Runs `handler` on the order's reservation and answers it as it then is."""
    return _reservation_json(handler(engine=current_engine(), order_id=validate_order_id(order_id=order_id)))


@reservations_api.post("/reservations/<order_id>/restock")
@only_for(ORDER_SERVICE)
def restock(order_id: str):
    validate_order_id(order_id=order_id)
    check_restock_idempotency_key(header=request.headers.get("Idempotency-Key"), order_id=order_id)
    return _reservation_json(handlers.restock_reservation(engine=current_engine(), order_id=order_id))


# --- presentation ---------------------------------------------------------------------------


def _product_json(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "available": product.available,
        "reserved": product.reserved,
        "sold": product.sold,
        "availability": product.availability.value,  # what the catalog's events say
        "version": product.version,
    }


def _reservation_json(reservation: Reservation) -> dict[str, Any]:
    return {
        "order_id": reservation.order_id,
        "status": reservation.status.value,
        "items": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price_cents": line.unit_price_cents}
            for line in reservation.lines
        ],
        "total_cents": reservation.total_cents,
        # ISO 8601 here: Flask's JSON would write datetimes as HTTP dates.
        "created_at": reservation.created_at.isoformat(),
        "updated_at": reservation.updated_at.isoformat(),
        "expires_at": reservation.expires_at.isoformat() if reservation.expires_at else None,
        "release_reason": reservation.release_reason.value if reservation.release_reason else None,
    }
