"""Request helpers shared by the payment integration tests."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from messaging.credentials import ORDER_SERVICE
from testsupport.callers import bearer


def charge(
    client: FlaskClient,
    *,
    order_id: str,
    token: str = "tok_visa",
    amount_cents: int = 2500,
    currency: str = "EUR",
):
    return client.post(
        "/charges",
        json={
            "order_id": order_id,
            "amount_cents": amount_cents,
            "currency": currency,
            "payment_token": token,
        },
        headers={"Idempotency-Key": f"charge:{order_id}", **bearer(ORDER_SERVICE)},
    )


def stored_rows(app: Flask, *, order_id: str) -> list[tuple[str, str | None]]:
    """What the database holds, read around the API."""
    with app.extensions["engine"].connect() as connection:
        rows = connection.execute(
            sa.text("SELECT status, decline_code FROM payments WHERE order_id = :order_id"),
            {"order_id": order_id},
        )
        return [tuple(row) for row in rows]


def refund(client: FlaskClient, *, order_id: str, key: str | None = None):
    return client.post(
        "/refunds",
        json={"order_id": order_id},
        headers={"Idempotency-Key": key or f"refund:{order_id}", **bearer(ORDER_SERVICE)},
    )
