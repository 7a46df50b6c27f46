"""The order's OpenAPI document: served whole, and naming exactly the routes Flask serves."""

from __future__ import annotations

from order_service.api import create_app
from order_service.config import Settings
from testsupport.openapi_fuzz import conforms, dangling_refs, route_drift

# Real wiring (HTTP clients included) to a database that does not answer: nothing is reached.
SETTINGS = Settings(database_url="postgresql+psycopg2://nobody:nothing@127.0.0.1:1/nowhere?connect_timeout=1")
ORDER = {
    "customer_id": "c-1",
    "email": "ada@example.test",
    "items": [{"sku": "SKU-1", "quantity": 1}],
    "payment_token": "tok_visa",
}


def test_the_document_and_the_routes_agree():
    assert route_drift(create_app(SETTINGS)) == {"undocumented": set(), "not served": set()}


def test_the_served_document_is_whole():
    response = create_app(SETTINGS).test_client().get("/openapi.json")

    document = response.get_json()
    assert response.status_code == 200 and document["openapi"].startswith("3.1")
    assert "Problem" in document["components"]["schemas"] and "/healthz" in document["paths"]
    assert dangling_refs(document) == []


def test_a_database_that_does_not_answer_is_a_documented_503():
    app = create_app(SETTINGS)
    on = {"path_parameters": {"order_id": "o-1"}}
    place = {"headers": {"Idempotency-Key": "k-1"}, "body": ORDER}

    assert conforms(app, "GET", "/orders", unavailable=True).status_code == 503
    assert conforms(app, "POST", "/orders", unavailable=True, **place).status_code == 503
    assert conforms(app, "GET", "/orders/{order_id}", unavailable=True, **on).status_code == 503
    assert conforms(app, "GET", "/orders/{order_id}/events", unavailable=True, **on).status_code == 503
    assert conforms(app, "POST", "/orders/{order_id}/cancel", unavailable=True, **on).status_code == 503
    assert conforms(app, "GET", "/readyz", unavailable=True).status_code == 503
