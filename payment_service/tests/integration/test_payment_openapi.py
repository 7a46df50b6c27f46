"""Each status the payment's document promises, reached on purpose against a real database
and checked against the document (the fuzz test rarely guesses a test token)."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import bearer
from testsupport.openapi_fuzz import conforms

ORDER = bearer(ORDER_SERVICE)  # the charges' and refunds' caller


def charge(order_id: str, token: str = "tok_visa", amount: int = 1200, key: str | None = None) -> dict:
    body = {"order_id": order_id, "amount_cents": amount, "currency": "EUR", "payment_token": token}
    return {"headers": {**ORDER, "Idempotency-Key": key or f"charge:{order_id}"}, "body": body}


def refund(order_id: str) -> dict:
    return {"headers": {**ORDER, "Idempotency-Key": f"refund:{order_id}"}, "body": {"order_id": order_id}}


def status(app, method: str, path: str, **request) -> int:
    return conforms(app, method, path, **request).status_code


def test_a_charge_and_its_refund_answer_as_documented(payment_app):
    first = conforms(payment_app, "POST", "/charges", **charge("o-1"))
    assert first.status_code == 201
    assert conforms(payment_app, "POST", "/charges", **charge("o-1")).headers["idempotent-replayed"] == [
        "true"
    ]
    assert status(payment_app, "POST", "/charges", **charge("o-1", amount=1300)) == 422
    assert status(payment_app, "POST", "/charges", **charge("o-1", key="o-1")) == 400
    assert status(payment_app, "POST", "/refunds", **refund("o-1")) == 200
    assert status(payment_app, "POST", "/refunds", **refund("o-1")) == 200
    assert status(payment_app, "POST", "/charges", **charge("o-1")) == 201  # as stored now: REFUNDED
    payment_id = first.json()["id"]
    assert (
        status(payment_app, "GET", "/payments/{payment_id}", path_parameters={"payment_id": payment_id})
        == 200
    )
    assert status(payment_app, "GET", "/payments", query={"order_id": "o-1"}) == 200


def test_declines_and_refusals_answer_as_documented(payment_app):
    assert status(payment_app, "POST", "/charges", **charge("o-2", token="tok_chargeDeclined")) == 402
    assert status(payment_app, "POST", "/charges", **charge("o-2", token="tok_chargeDeclined")) == 402
    assert status(payment_app, "POST", "/refunds", **refund("o-2")) == 409
    assert status(payment_app, "POST", "/refunds", **refund("o-3")) == 404
    assert status(payment_app, "GET", "/payments/{payment_id}", path_parameters={"payment_id": "nope"}) == 404
    assert status(payment_app, "GET", "/payments", query={"limit": 0}, headers=bearer(ADMIN)) == 400
    assert status(payment_app, "POST", "/charges", headers=ORDER, body=[]) == 400
    assert (
        status(payment_app, "POST", "/refunds", **{**refund("o-4"), "body": {"order_id": "x" * 70_000}})
        == 413
    )
    assert status(payment_app, "GET", "/readyz") == 200
