"""The order API (Flask app factory). Thin: parse the request, call a handler, render."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from messaging.database import make_engine
from messaging.web import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    database_check,
    health_blueprint,
    install_error_handlers,
    json_body,
    problem_response,
    query_int,
)
from order_service import handlers
from order_service.clients import InventoryClient, PaymentClient, ServiceClient
from order_service.config import Settings, settings_from_env
from order_service.domain import (
    IdempotencyKeyReused,
    InvalidOrder,
    OrderNotFound,
    OrderStatus,
)

orders = Blueprint("orders", __name__)


def _deps() -> handlers.Dependencies:
    return current_app.extensions["order_deps"]


@orders.post("/orders")
def place_order():
    key = request.headers.get("Idempotency-Key", "")
    if not 1 <= len(key) <= 200:
        raise Problem(
            status=400,
            code="missing-idempotency-key",
            title="An Idempotency-Key header (1-200 chars) is required",
        )
    reply = handlers.place_order(deps=_deps(), idempotency_key=key, body=json_body())
    response = jsonify(reply.body)
    response.status_code = reply.status
    response.headers["Location"] = f"/orders/{reply.order_id}"
    if reply.status >= 400:
        response.content_type = PROBLEM_CONTENT_TYPE
        response.headers["Retry-After"] = "5"
    return response


@orders.get("/orders/<order_id>")
def get_order(order_id: str):
    return handlers.get_order(engine=_deps().engine, order_id=order_id)


@orders.get("/orders")
def list_orders():
    status = request.args.get("status")
    if status is not None and status not in OrderStatus.__members__:
        raise Problem(
            status=400, code="invalid-query", title=f"status must be one of {', '.join(OrderStatus)}"
        )
    cursor = request.args.get("cursor")
    if cursor is not None and not cursor.isdigit():
        raise Problem(status=400, code="invalid-query", title="cursor must be a value from next_cursor")
    return handlers.list_orders(
        engine=_deps().engine,
        customer_id=request.args.get("customer_id"),
        status=status,
        limit=query_int("limit", default=50, minimum=1, maximum=200),
        cursor=int(cursor) if cursor else None,
    )


def _install_domain_errors(app: Flask) -> None:
    @app.errorhandler(InvalidOrder)
    def on_invalid(error: InvalidOrder):
        return problem_response(
            Problem(status=422, code="validation-error", title="The order is invalid", errors=error.errors)
        )

    @app.errorhandler(OrderNotFound)
    def on_not_found(error: OrderNotFound):
        return problem_response(
            Problem(status=404, code="order-not-found", title="No such order", detail=str(error))
        )

    @app.errorhandler(IdempotencyKeyReused)
    def on_key_reused(error: IdempotencyKeyReused):
        return problem_response(
            Problem(
                status=422,
                code="idempotency-key-reused",
                title="This Idempotency-Key was used with a different request body",
            )
        )


def build_dependencies(settings: Settings, engine: Any = None) -> handlers.Dependencies:
    def client(name: str, url: str) -> ServiceClient:
        return ServiceClient(
            name=name,
            base_url=url,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            attempts=settings.call_attempts,
        )

    return handlers.Dependencies(
        engine=engine or make_engine(settings.database_url),
        inventory=InventoryClient(client("inventory", settings.inventory_url)),
        payment=PaymentClient(client("payment", settings.payment_url)),
        currency=settings.currency,
    )


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    test_config = test_config or {}
    if "DEPS" in test_config:
        deps = test_config["DEPS"]
    else:
        environ = {**os.environ, **test_config}
        deps = build_dependencies(settings_from_env(environ))
    app.extensions["order_deps"] = deps
    install_error_handlers(app)
    _install_domain_errors(app)
    app.register_blueprint(orders)
    app.register_blueprint(health_blueprint(checks={"database": database_check(deps.engine)}))
    return app
