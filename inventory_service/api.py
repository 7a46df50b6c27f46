"""HTTP API of the inventory (Flask app factory). Parses, calls a handler, serialises: no rules."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from inventory_service import handlers
from inventory_service.config import DEFAULT_HOLD_SECONDS, settings_from_env
from inventory_service.domain import (
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidIdempotencyKey,
    InvalidInput,
    InventoryError,
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
from messaging.database import make_engine
from messaging.settings import Role, pool_size
from messaging.web import (
    Problem,
    database_check,
    health_blueprint,
    install_error_handlers,
    json_body,
    problem_response,
)

ENGINE_KEY = "inventory_engine"
HOLD_KEY = "RESERVATION_HOLD_SECONDS"

products_api = Blueprint("products", __name__)
reservations_api = Blueprint("reservations", __name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """`test_config` may carry DATABASE_URL or ENGINE, and RESERVATION_HOLD_SECONDS;
    without DATABASE_URL or ENGINE, the settings come from the environment."""
    config = dict(test_config or {})
    engine = config.get("ENGINE")
    if engine is None and not config.get("DATABASE_URL"):
        settings = settings_from_env()
        config["DATABASE_URL"] = settings.database_url
        config.setdefault(HOLD_KEY, settings.reservation_hold_seconds)
    config.setdefault(HOLD_KEY, DEFAULT_HOLD_SECONDS)
    if engine is None:
        engine = make_engine(
            config["DATABASE_URL"],
            pool_size=pool_size(Role.API, web_threads=int(os.environ.get("WEB_THREADS", "16"))),
        )  # lazy: no connection until the first request
    app = Flask(__name__)
    app.config.update({key: value for key, value in config.items() if key != "ENGINE"})
    app.extensions[ENGINE_KEY] = engine
    install_error_handlers(app)
    app.register_error_handler(InventoryError, _inventory_problem)
    app.register_blueprint(health_blueprint(checks={"database": database_check(engine)}))
    app.register_blueprint(products_api)
    app.register_blueprint(reservations_api)
    return app


def _engine() -> sa.Engine:
    return current_app.extensions[ENGINE_KEY]


# --- products -------------------------------------------------------------------------------


@products_api.get("/products")
def list_products():
    return jsonify([_product_json(product) for product in handlers.list_products(engine=_engine())])


@products_api.get("/products/<sku>")
def get_product(sku: str):
    return _product_json(handlers.get_product(engine=_engine(), sku=validate_sku(sku=sku)))


@products_api.put("/products/<sku>")
def put_product(sku: str):
    validate_sku(sku=sku)
    spec = parse_product_spec(body=json_body())
    product, created = handlers.put_product(engine=_engine(), sku=sku, spec=spec)
    return _product_json(product), 201 if created else 200


# --- reservations ---------------------------------------------------------------------------


@reservations_api.post("/reservations")
def reserve():
    reservation_request = parse_reservation_request(body=json_body())
    check_idempotency_key(
        header=request.headers.get("Idempotency-Key"), order_id=reservation_request.order_id
    )
    outcome = handlers.reserve_stock(
        engine=_engine(), request=reservation_request, hold_seconds=current_app.config[HOLD_KEY]
    )
    if not outcome.created:
        return _reservation_json(outcome.reservation), 200
    location = f"/reservations/{outcome.reservation.order_id}"
    return _reservation_json(outcome.reservation), 201, {"Location": location}


@reservations_api.get("/reservations/<order_id>")
def get_reservation(order_id: str):
    return _reservation_json(
        handlers.get_reservation(engine=_engine(), order_id=validate_order_id(order_id=order_id))
    )


@reservations_api.post("/reservations/<order_id>/commit")
def commit(order_id: str):
    return _reservation_json(
        handlers.commit_reservation(engine=_engine(), order_id=validate_order_id(order_id=order_id))
    )


@reservations_api.post("/reservations/<order_id>/release")
def release(order_id: str):
    return _reservation_json(
        handlers.release_reservation(engine=_engine(), order_id=validate_order_id(order_id=order_id))
    )


@reservations_api.post("/reservations/<order_id>/restock")
def restock(order_id: str):
    validate_order_id(order_id=order_id)
    check_restock_idempotency_key(header=request.headers.get("Idempotency-Key"), order_id=order_id)
    return _reservation_json(handlers.restock_reservation(engine=_engine(), order_id=order_id))


# --- presentation ---------------------------------------------------------------------------


def _product_json(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "available": product.available,
        "reserved": product.reserved,
        "sold": product.sold,
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


def _inventory_problem(error: InventoryError) -> Response:
    return problem_response(to_problem(error))


# Most specific first: the Reservation* transitions below are all IllegalTransitions.
PROBLEMS: tuple[tuple[type[InventoryError], int, str, str], ...] = (
    (InvalidIdempotencyKey, 400, "invalid-idempotency-key", "The Idempotency-Key header is wrong"),
    (OutOfStock, 409, "out-of-stock", "Not enough stock"),
    (UnknownSku, 422, "unknown-sku", "Unknown SKU"),
    (ProductNotFound, 404, "product-not-found", "No such product"),
    (ReservationNotFound, 404, "reservation-not-found", "No such reservation"),
    (IdempotencyKeyReused, 422, "idempotency-key-reused", "This order was reserved with other items"),
    (ReservationReleased, 409, "reservation-released", "The reservation was released"),
    (ReservationCommitted, 409, "reservation-committed", "The reservation was committed"),
    (ReservationNotCommitted, 409, "reservation-not-committed", "The reservation is not committed"),
    (ReservationRestocked, 409, "reservation-restocked", "The reservation was restocked"),
    (IllegalTransition, 409, "illegal-transition", "The reservation cannot make this transition"),
)


def to_problem(error: InventoryError) -> Problem:
    """The one place where domain words become stable problem codes."""
    if isinstance(error, InvalidInput):
        errors = [{"field": each.field, "message": each.message} for each in error.errors]
        return Problem(status=422, code="validation-error", title="The request is invalid", errors=errors)
    extra = {"sku": error.sku} if isinstance(error, OutOfStock | UnknownSku) else {}
    for kind, status, code, title in PROBLEMS:
        if isinstance(error, kind):
            return Problem(status=status, code=code, title=title, detail=str(error), **extra)
    return Problem(status=500, code="inventory-error", title="Unexpected inventory error", detail=str(error))
