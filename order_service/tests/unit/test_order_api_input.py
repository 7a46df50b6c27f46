"""Bad input is refused before anything touches a database or another service."""

import pytest

from order_service.api import create_app
from order_service.bootstrap import Dependencies
from order_service.config import Settings


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
    return create_app(Settings(database_url="unused"), deps=deps).test_client()


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
    response = client.get(f"/orders?{query}")

    assert (response.status_code, response.json["code"]) == (400, "invalid-query")


def test_unknown_route_is_a_problem_too(client):
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
