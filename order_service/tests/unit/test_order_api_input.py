"""Bad input is refused before anything touches a database or another service."""

import pytest

from messaging.credentials import ADMIN
from order_service.api import create_app
from order_service.bootstrap import Dependencies
from order_service.config import Settings
from testsupport.callers import TEST_CALLERS, bearer

ADMIN_HEADERS = bearer(ADMIN)  # the list of every order is the operator's


class Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"nothing should be called for bad input ({name})")


@pytest.fixture
def client():
    deps = Dependencies(
        engine=Untouchable(),
        inventory=Untouchable(),
        payment=Untouchable(),
        warehouse=Untouchable(),
        currency="EUR",
    )
    settings = Settings(database_url="unused", service_token="unused", callers=TEST_CALLERS)
    return create_app(settings, deps=deps).test_client()


def test_missing_idempotency_key_is_400_problem(client):
    response = client.post("/orders", json={})

    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "missing-idempotency-key"


def test_malformed_json_is_400_problem(client):
    response = client.post(
        "/orders", data="{nope", headers={"Idempotency-Key": "k1", "Content-Type": "application/json"}
    )

    assert (response.status_code, response.json["code"]) == (400, "invalid-json")


def test_invalid_order_is_422_with_every_field(client):
    response = client.post(
        "/orders", json={"items": [{"sku": "A", "quantity": -1}]}, headers={"Idempotency-Key": "k"}
    )

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "validation-error"
    assert "items[0].quantity" in [error["field"] for error in response.json["errors"]]


@pytest.mark.parametrize("query", ["status=LOST", "limit=0", "limit=abc", "cursor=xyz"])
def test_bad_list_queries_are_400(client, query):
    response = client.get(f"/orders?{query}", headers=ADMIN_HEADERS)

    assert (response.status_code, response.json["code"]) == (400, "invalid-query")


def test_a_price_seen_that_is_not_whole_cents_is_422_naming_the_line(client):
    body = {
        "customer_id": "c-1",
        "email": "ada@example.test",
        "items": [{"sku": "SKU-1", "quantity": 1, "unit_price_cents": "12.00"}],
        "payment_token": "tok_visa",
    }
    response = client.post("/orders", json=body, headers={"Idempotency-Key": "k"})

    assert (response.status_code, response.json["code"]) == (422, "validation-error")
    assert [error["field"] for error in response.json["errors"]] == ["items[0].unit_price_cents"]


def test_an_invalid_sku_in_the_catalog_s_path_is_422_before_the_database(client):
    response = client.get("/catalog/not%20a%20sku")

    assert (response.status_code, response.json["code"]) == (422, "validation-error")
    assert response.json["errors"][0]["field"] == "sku"


def test_unknown_route_is_a_problem_too(client):
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


# Each of these was a 500 (issue 12): now a 4xx problem before anything is called.
NESTED = "[" * 5000 + "]" * 5000


def test_a_deeply_nested_body_is_400_not_500(client):
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    for body in (NESTED, '{"items": ' + NESTED + "}"):
        response = client.post("/orders", data=body, headers=headers)
        assert (response.status_code, response.json["code"]) == (400, "invalid-json")


def test_a_cursor_of_other_digits_is_400_not_500(client):
    for cursor in ("²", "٧", " 7", "+7", "1_0"):
        response = client.get("/orders", query_string={"cursor": cursor}, headers=ADMIN_HEADERS)
        assert (response.status_code, response.json["code"]) == (400, "invalid-query"), cursor


def test_a_nul_character_is_422_naming_the_field_not_500(client):
    body = {
        "customer_id": "c\x001",
        "email": "ada@example.test",
        "items": [{"sku": "SKU-1", "quantity": 1}],
        "payment_token": "tok\x00visa",
    }
    response = client.post("/orders", json=body, headers={"Idempotency-Key": "k"})
    assert (response.status_code, response.json["code"]) == (422, "validation-error")
    assert [error["field"] for error in response.json["errors"]] == ["customer_id", "payment_token"]


def test_a_nul_character_in_the_path_or_query_is_422_not_500(client):
    for url, field in (("/orders/a%00b", "order_id"), ("/orders?customer_id=c%00", "customer_id")):
        response = client.get(url, headers=ADMIN_HEADERS)
        assert (response.status_code, response.json["code"]) == (422, "validation-error"), url
        assert response.json["errors"][0]["field"] == field
