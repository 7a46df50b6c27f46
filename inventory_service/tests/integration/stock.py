"""Small request helpers shared by the inventory integration tests."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


def reserve(client: FlaskClient, *, order_id: str, items: list[dict[str, Any]]):
    return client.post(
        "/reservations",
        json={"order_id": order_id, "items": items},
        headers={"Idempotency-Key": f"reserve:{order_id}"},
    )


def put_product(client: FlaskClient, *, sku: str, available: int, price_cents: int = 500):
    response = client.put(
        f"/products/{sku}", json={"name": sku.title(), "price_cents": price_cents, "available": available}
    )
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def stock(client: FlaskClient, *, sku: str) -> dict[str, int]:
    body = client.get(f"/products/{sku}").get_json()
    return {key: body[key] for key in ("available", "reserved", "sold")}


def total_units(counts: dict[str, int]) -> int:
    return counts["available"] + counts["reserved"] + counts["sold"]
