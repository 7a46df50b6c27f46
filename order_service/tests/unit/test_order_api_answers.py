"""How api.py renders the use cases' outcomes: POST /orders' status codes, and domain errors
as problem+json (the codes clients match on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from order_service.api import PROBLEMS, answer_for
from order_service.clients import DownstreamUnavailable
from order_service.domain import (
    IdempotencyKeyReused,
    InvalidOrder,
    Order,
    OrderAlreadyShipped,
    OrderNotCancellable,
    OrderNotFound,
    OrderStatus,
    ProductNotFound,
    ProductRemoved,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def order(status: OrderStatus, failure_reason: str | None = None) -> Order:
    return Order(
        id="o-1", seq=1, customer_id="c-1", email="ada@example.test", status=status,
        items=({"sku": "SKU-1", "quantity": 1, "unit_price_cents": 700},), total_cents=700, currency="EUR",
        payment_token="tok", failure_reason=failure_reason, failed_step=None, stock_settled=True,
        payment_settled=True, attempts=0, next_attempt_at=NOW, created_at=NOW, updated_at=NOW, last_step=1,
    )  # fmt: skip


def test_a_final_order_is_201_and_one_in_flight_202():
    confirmed = answer_for(order(OrderStatus.CONFIRMED))
    pending = answer_for(order(OrderStatus.PAYMENT_PENDING))

    assert (confirmed.status, confirmed.body["status"], confirmed.body["items"]) == (
        201,
        "CONFIRMED",
        [{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 700}],
    )
    assert (pending.status, pending.order_id) == (202, "o-1")
    assert confirmed.body["created_at"] == NOW.isoformat()


def test_a_dependency_that_was_down_is_503_with_the_failed_order_inside():
    answer = answer_for(order(OrderStatus.FAILED, failure_reason="payment_unavailable"))

    assert answer.status == 503
    assert (answer.body["code"], answer.body["dependency"]) == ("payment-unavailable", "payment")
    assert answer.body["order"]["failure_reason"] == "payment_unavailable"
    assert answer_for(order(OrderStatus.FAILED, failure_reason="payment_declined")).status == 201


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        (InvalidOrder([{"field": "email", "message": "m"}]), 422,
         {"code": "validation-error", "errors": [{"field": "email", "message": "m"}]}),
        (OrderNotFound("o-9"), 404, {"code": "order-not-found", "title": "No such order", "detail": "o-9"}),
        (OrderAlreadyShipped("o-1"), 409,
         {"code": "order-already-shipped", "title": "The order was dispatched: it cannot be cancelled"}),
        (OrderNotCancellable(OrderStatus.FAILED), 409,
         {"code": "order-not-cancellable", "title": "an order in FAILED cannot be cancelled",
          "order_status": "FAILED"}),
        (IdempotencyKeyReused("k"), 422, {"code": "idempotency-key-reused"}),
        (ProductNotFound("SKU-9"), 404, {"code": "product-not-found", "detail": "SKU-9"}),
        (ProductRemoved("SKU-9"), 422, {"code": "product-removed", "sku": "SKU-9",
                                        "detail": "SKU-9 is no longer sold"}),
        (DownstreamUnavailable("warehouse", maybe_applied=False, detail="down"), 503,
         {"code": "warehouse-unavailable", "dependency": "warehouse",
          "title": "The warehouse service is unavailable; nothing was changed, retry later"}),
    ],
)  # fmt: skip
def test_domain_errors_are_problems(error, status, expected):
    with Flask(__name__).app_context():
        response = PROBLEMS[type(error)].response(error)

    assert (response.status_code, response.content_type) == (status, "application/problem+json")
    assert response.json | expected == response.json
    named = (OrderNotFound, ProductNotFound, ProductRemoved)
    assert ("detail" in response.json) == isinstance(error, named)  # as before the table
    assert response.headers.get("Retry-After") == ("5" if status == 503 else None)
