"""HTTP API of the payment service (Flask app factory). Parses, calls a handler, serialises."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify, request

from messaging.credentials import ADMIN, ORDER_SERVICE
from messaging.guard import only_for, require_caller
from messaging.http_input import json_body, list_limit, optional_query
from messaging.problems import VALIDATION_PROBLEMS, Problem, ProblemTable, ProblemType, problem_response
from messaging.web import create_api, current_engine, extension
from payment_service import handlers
from payment_service.config import Settings, settings_from_env
from payment_service.domain import (
    Gateway,
    IdempotencyKeyReused,
    OrderNotCharged,
    Payment,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentStatus,
    SimulatedGateway,
    check_idempotency_key,
    check_refund_idempotency_key,
    parse_charge_request,
    parse_refund_request,
    slow_answer_seconds,
    validate_order_id,
)

payments_api = Blueprint("payments", __name__)

# The one place where domain words become stable problem codes (a declined charge is not an
# error but an outcome: see declined_problem).
PROBLEMS: ProblemTable = {
    **VALIDATION_PROBLEMS,
    IdempotencyKeyReused: ProblemType(
        422, "idempotency-key-reused", "This order was charged with other parameters"
    ),
    PaymentNotFound: ProblemType(404, "payment-not-found", "No such payment"),
    OrderNotCharged: ProblemType(404, "payment-not-found", "This order has no payment"),
    PaymentNotRefundable: ProblemType(409, "payment-not-refundable", "This payment cannot be refunded"),
}


def create_app(
    settings: Settings | None = None, *, engine: sa.Engine | None = None, gateway: Gateway | None = None
) -> Flask:
    """`settings`: from the environment when None (gunicorn calls `create_app()`); `engine`:
    a test's own (no connection is made until the first query either way); `gateway`: the
    card processor, the simulated one when None."""
    settings = settings or settings_from_env(api=True)
    return create_api(
        __name__,
        settings=settings,
        engine=engine,
        problems=PROBLEMS,
        blueprints=[payments_api],
        extensions={"gateway": gateway or SimulatedGateway()},
        callers=settings.callers,
        openapi=Path(__file__).with_name("openapi.json"),
    )


def _gateway() -> Gateway:
    return extension("gateway")


@payments_api.post("/charges")
@only_for(ORDER_SERVICE)
def charge():
    charge_request = parse_charge_request(body=json_body())
    check_idempotency_key(header=request.headers.get("Idempotency-Key"), order_id=charge_request.order_id)
    outcome = handlers.charge_payment(engine=current_engine(), gateway=_gateway(), request=charge_request)
    # A replay answers exactly what the first request answered; this header tells them apart.
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    payment = outcome.payment
    # The simulated slow gateway: the payment is committed, only the answer is late.
    delay = slow_answer_seconds(
        payment=payment,
        replayed=outcome.replayed,
        delay_seconds=extension("settings").timeout_token_delay_seconds,
    )
    if delay:
        time.sleep(delay)
    if payment.status is PaymentStatus.DECLINED:
        return problem_response(declined_problem(payment), headers)
    return payment_json(payment), 201, {**headers, "Location": f"/payments/{payment.id}"}


@payments_api.post("/refunds")
@only_for(ORDER_SERVICE)
def refund():
    refund_request = parse_refund_request(body=json_body())
    check_refund_idempotency_key(
        header=request.headers.get("Idempotency-Key"), order_id=refund_request.order_id
    )
    outcome = handlers.refund_payment(engine=current_engine(), request=refund_request)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return payment_json(outcome.payment), 200, headers


@payments_api.get("/payments")
def list_payments():
    # Absent: every payment. Present: that order's payment (any status), never an empty filter.
    order_id = optional_query("order_id", lambda value: validate_order_id(order_id=value))
    if order_id is None:  # every order's payments: the operator's view, not a client's
        require_caller(ADMIN)
    payments = handlers.list_payments(engine=current_engine(), order_id=order_id, limit=list_limit())
    return jsonify([payment_json(payment) for payment in payments])


@payments_api.get("/payments/<payment_id>")
def get_payment(payment_id: str):
    return payment_json(handlers.get_payment(engine=current_engine(), payment_id=payment_id))


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
