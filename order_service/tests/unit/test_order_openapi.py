"""The order's OpenAPI document: served whole, naming exactly the routes Flask serves, and the
guard each applies (`security`, `x-caller`)."""

from __future__ import annotations

from messaging.credentials import ADMIN, ORDER_SERVICE
from order_service.api import create_app
from order_service.config import Settings
from testsupport.callers import TEST_CALLERS, UNKNOWN_TOKEN, bearer
from testsupport.openapi_fuzz import conforms, document_drift

# Real wiring (HTTP clients included) to a database that does not answer: nothing is reached.
SETTINGS = Settings(
    database_url="postgresql+psycopg2://nobody:nothing@127.0.0.1:1/nowhere?connect_timeout=1",
    service_token="unused",
    callers=TEST_CALLERS,
)
ORDER = {
    "customer_id": "c-1",
    "email": "ada@example.test",
    "items": [{"sku": "SKU-1", "quantity": 1}],
    "payment_token": "tok_visa",
}


def test_the_served_document_is_true_to_the_app():
    assert document_drift(create_app(SETTINGS)) == {}


def test_a_database_that_does_not_answer_is_a_documented_503():
    app = create_app(SETTINGS)
    on = {"path_parameters": {"order_id": "o-1"}}
    place = {"headers": {"Idempotency-Key": "k-1"}, "body": ORDER}

    assert conforms(app, "GET", "/orders", unavailable=True, headers=bearer(ADMIN)).status_code == 503
    assert conforms(app, "POST", "/orders", unavailable=True, **place).status_code == 503
    assert conforms(app, "GET", "/orders/{order_id}", unavailable=True, **on).status_code == 503
    assert conforms(app, "GET", "/orders/{order_id}/events", unavailable=True, **on).status_code == 503
    assert conforms(app, "POST", "/orders/{order_id}/cancel", unavailable=True, **on).status_code == 503
    assert conforms(app, "GET", "/catalog", unavailable=True).status_code == 503
    sku = {"path_parameters": {"sku": "SKU-1"}}
    assert conforms(app, "GET", "/catalog/{sku}", unavailable=True, **sku).status_code == 503
    assert conforms(app, "GET", "/readyz", unavailable=True).status_code == 503


def test_the_guards_refusals_are_documented():
    app = create_app(SETTINGS)
    unknown = {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}

    assert conforms(app, "GET", "/orders").headers["www-authenticate"] == ["Bearer"]
    assert conforms(app, "GET", "/orders", headers=unknown).status_code == 401
    assert conforms(app, "GET", "/orders", headers=bearer(ORDER_SERVICE)).json()["caller"] == ORDER_SERVICE
