"""API input validation and probes: no database server needed."""

from __future__ import annotations

import pytest

from messaging.database import make_engine
from warehouse_service.api import create_app


class UnusableEngine:
    def connect(self):
        raise AssertionError("invalid input must be refused before any query")

    begin = connect


@pytest.fixture
def client():
    return create_app({"ENGINE": UnusableEngine(), "TESTING": True}).test_client()


def test_an_empty_order_id_is_a_validation_error(client):
    response = client.get("/shipments?order_id=")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "validation-error"
    assert response.json["errors"][0]["field"] == "order_id"


@pytest.mark.parametrize("limit", ["0", "501", "ten"])
def test_a_bad_limit_is_refused(client, limit):
    response = client.get(f"/shipments?limit={limit}")
    assert response.status_code == 400
    assert response.json["code"] == "invalid-query"


def test_an_unknown_path_is_a_problem_not_html(client):
    response = client.get("/parcels")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_fails_when_the_database_is_unreachable():
    engine = make_engine("postgresql+psycopg2://nobody:secret@127.0.0.1:1/warehouse")
    response = create_app({"ENGINE": engine}).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failures"] == {"database": "OperationalError"}


def test_the_app_needs_a_database_url_when_given_no_engine(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(KeyError, match="DATABASE_URL"):
        create_app({})
    assert (
        create_app({"DATABASE_URL": "postgresql+psycopg2://u:p@127.0.0.1:1/w"}).name
        == "warehouse_service.api"
    )


@pytest.mark.parametrize("header", [None, "cancel:other", "o-1", "restock:o-1"])
def test_a_cancel_without_its_own_key_is_refused_before_the_database(client, header):
    headers = {"Idempotency-Key": header} if header else {}

    response = client.post("/shipments/o-1/cancel", headers=headers)

    assert response.status_code == 400
    assert response.json["code"] == "invalid-idempotency-key"


def test_a_cancel_of_an_overlong_order_id_is_a_validation_error(client):
    order_id = "x" * 101

    response = client.post(f"/shipments/{order_id}/cancel", headers={"Idempotency-Key": f"cancel:{order_id}"})

    assert (response.status_code, response.json["code"]) == (422, "validation-error")
