"""HTTP API of the payment service (Flask app factory). Parses, calls a handler, serialises."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from messaging.database import make_engine
from messaging.settings import Role, pool_size
from messaging.web import (
    Problem,
    database_check,
    health_blueprint,
    install_error_handlers,
    json_body,
    problem_response,
    query_int,
)
from payment_service import handlers
from payment_service.config import DEFAULT_TIMEOUT_TOKEN_DELAY_SECONDS, settings_from_env
from payment_service.domain import (
    Gateway,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidInput,
    OrderNotCharged,
    Payment,
    PaymentError,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentStatus,
    SimulatedGateway,
    check_idempotency_key,
    check_refund_idempotency_key,
    parse_charge_request,
    parse_refund_request,
    slow_answer_seconds,
    validate_order_id_query,
)

ENGINE_KEY = "payment_engine"
GATEWAY_KEY = "payment_gateway"
DELAY_KEY = "PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS"

payments_api = Blueprint("payments", __name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """`test_config` may carry DATABASE_URL or ENGINE, GATEWAY (a domain.Gateway) and
    PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS; without DATABASE_URL or ENGINE, the environment."""
    config = dict(test_config or {})
    engine = config.pop("ENGINE", None)
    if engine is None and not config.get("DATABASE_URL"):
        settings = settings_from_env()
        config["DATABASE_URL"] = settings.database_url
        config.setdefault(DELAY_KEY, settings.timeout_token_delay_seconds)
    config.setdefault(DELAY_KEY, DEFAULT_TIMEOUT_TOKEN_DELAY_SECONDS)
    if engine is None:
        engine = make_engine(
            config["DATABASE_URL"],
            pool_size=pool_size(Role.API, web_threads=int(os.environ.get("WEB_THREADS", "16"))),
        )  # lazy: no connection until the first request
    app = Flask(__name__)
    app.extensions[GATEWAY_KEY] = config.pop("GATEWAY", None) or SimulatedGateway()
    app.extensions[ENGINE_KEY] = engine
    app.config.update(config)
    install_error_handlers(app)
    app.register_error_handler(PaymentError, _payment_problem)
    app.register_blueprint(health_blueprint(checks={"database": database_check(engine)}))
    app.register_blueprint(payments_api)
    return app


def _engine() -> sa.Engine:
    return current_app.extensions[ENGINE_KEY]


def _gateway() -> Gateway:
    return current_app.extensions[GATEWAY_KEY]


@payments_api.post("/charges")
def charge():
    charge_request = parse_charge_request(body=json_body())
    check_idempotency_key(header=request.headers.get("Idempotency-Key"), order_id=charge_request.order_id)
    outcome = handlers.charge_payment(engine=_engine(), gateway=_gateway(), request=charge_request)
    # A replay answers exactly what the first request answered; this header tells them apart.
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    payment = outcome.payment
    # The simulated slow gateway: the payment is committed, only the answer is late.
    delay = slow_answer_seconds(
        payment=payment, replayed=outcome.replayed, delay_seconds=current_app.config[DELAY_KEY]
    )
    if delay:
        time.sleep(delay)
    if payment.status is PaymentStatus.DECLINED:
        return problem_response(declined_problem(payment), headers)
    return payment_json(payment), 201, {**headers, "Location": f"/payments/{payment.id}"}


@payments_api.post("/refunds")
def refund():
    refund_request = parse_refund_request(body=json_body())
    check_refund_idempotency_key(
        header=request.headers.get("Idempotency-Key"), order_id=refund_request.order_id
    )
    outcome = handlers.refund_payment(engine=_engine(), request=refund_request)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return payment_json(outcome.payment), 200, headers


@payments_api.get("/payments")
def list_payments():
    # Absent: every payment. Present: that order's payment (any status), never an empty filter.
    order_id = request.args.get("order_id")
    if order_id is not None:
        validate_order_id_query(order_id=order_id)
    limit = query_int("limit", default=100, minimum=1, maximum=500)
    payments = handlers.list_payments(engine=_engine(), order_id=order_id, limit=limit)
    return jsonify([payment_json(payment) for payment in payments])


@payments_api.get("/payments/<payment_id>")
def get_payment(payment_id: str):
    return payment_json(handlers.get_payment(engine=_engine(), payment_id=payment_id))


# --- presentation ---------------------------------------------------------------------------


def payment_json(payment: Payment) -> dict[str, Any]:
    # The payment token is deliberately absent: it is a credential, never echoed back.
    return {
        "id": payment.id,
        "order_id": payment.order_id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "status": payment.status.value,
        "decline_code": payment.decline_code,
        # ISO 8601 here: Flask's JSON would write datetimes as HTTP dates.
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
        "refunded_at": payment.refunded_at.isoformat() if payment.refunded_at else None,
    }


def declined_problem(payment: Payment) -> Problem:
    return Problem(
        status=402,
        code="payment-declined",
        title="The payment was declined",
        detail=f"the card issuer declined the charge: {payment.decline_code}",
        decline_code=payment.decline_code,
        payment=payment_json(payment),
    )


PROBLEMS: tuple[tuple[type[PaymentError], int, str, str], ...] = (
    (InvalidIdempotencyKey, 400, "invalid-idempotency-key", "The Idempotency-Key header is wrong"),
    (IdempotencyKeyReused, 422, "idempotency-key-reused", "This order was charged with other parameters"),
    (PaymentNotFound, 404, "payment-not-found", "No such payment"),
    (OrderNotCharged, 404, "payment-not-found", "This order has no payment"),
    (PaymentNotRefundable, 409, "payment-not-refundable", "This payment cannot be refunded"),
)


def to_problem(error: PaymentError) -> Problem:
    """The one place where domain words become stable problem codes."""
    if isinstance(error, InvalidInput):
        errors = [{"field": each.field, "message": each.message} for each in error.errors]
        return Problem(status=422, code="validation-error", title="The request is invalid", errors=errors)
    for kind, status, code, title in PROBLEMS:
        if isinstance(error, kind):
            return Problem(status=status, code=code, title=title, detail=str(error))
    return Problem(status=500, code="payment-error", title="Unexpected payment error", detail=str(error))


def _payment_problem(error: PaymentError) -> Response:
    return problem_response(to_problem(error))
