"""The order API (Flask app factory). Thin: parse the request, call a handler, render."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

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
from order_service.clients import DownstreamUnavailable
from order_service.config import settings_from_env
from order_service.domain import (
    IdempotencyKeyReused,
    InvalidOrder,
    OrderNotCancellable,
    OrderNotFound,
    OrderStatus,
)
from order_service.saga import Dependencies, build_dependencies

orders = Blueprint("orders", __name__)


def _deps() -> Dependencies:
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


@orders.post("/orders/<order_id>/cancel")
def cancel_order(order_id: str):
    return handlers.cancel_order(deps=_deps(), order_id=order_id)


@orders.get("/orders/<order_id>/events")
def order_timeline(order_id: str):
    return handlers.order_timeline(engine=_deps().engine, order_id=order_id)


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

    @app.errorhandler(handlers.OrderAlreadyShipped)
    def on_shipped(error):
        return problem_response(
            Problem(
                status=409,
                code="order-already-shipped",
                title="The order was dispatched: it cannot be cancelled",
            )
        )

    @app.errorhandler(OrderNotCancellable)
    def on_not_cancellable(error: OrderNotCancellable):
        return problem_response(
            Problem(status=409, code="order-not-cancellable", title=str(error), order_status=error.status)
        )

    @app.errorhandler(DownstreamUnavailable)
    def on_downstream(error: DownstreamUnavailable):
        return problem_response(
            Problem(
                status=503,
                code=f"{error.service}-unavailable",
                title=f"The {error.service} service is unavailable; nothing was changed, retry later",
                dependency=error.service,
            ),
            {"Retry-After": str(int(error.retry_after))},
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
