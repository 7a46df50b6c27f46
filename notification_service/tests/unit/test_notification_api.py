"""API input validation and probes: no database server needed."""

from __future__ import annotations

import pytest

from messaging.database import make_engine
from notification_service.api import create_app


class UnusableEngine:
    def connect(self):
        raise AssertionError("invalid input must be refused before any query")

    begin = connect


@pytest.fixture
def client():
    return create_app({"ENGINE": UnusableEngine(), "TESTING": True}).test_client()


def test_an_overlong_order_id_is_a_validation_error(client):
    response = client.get("/notifications?order_id=" + "x" * 101)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["errors"] == [{"field": "order_id", "message": "must be 1 to 100 characters"}]


def test_a_bad_limit_is_refused(client):
    response = client.get("/notifications?limit=-3")
    assert response.status_code == 400
    assert response.json["code"] == "invalid-query"


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_fails_when_the_database_is_unreachable():
    engine = make_engine("postgresql+psycopg2://nobody:secret@127.0.0.1:1/notification")
    response = create_app({"ENGINE": engine}).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["code"] == "not-ready"
