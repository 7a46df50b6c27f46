"""messaging.web's query values: optional parameters, the list limit, the current engine."""

from __future__ import annotations

import pytest
from flask import Blueprint

from messaging.http_input import list_limit, optional_query, query_text
from messaging.problems import VALIDATION_PROBLEMS
from messaging.settings import ProcessSettings
from messaging.web import create_api, current_engine


@pytest.fixture
def client():
    views = Blueprint("views", __name__)

    @views.get("/list")
    def listing():
        return {
            "order_id": query_text("order_id", maximum=5),
            "number": optional_query("number", int),
            "limit": list_limit(),
            "engine_is_the_apps": current_engine() is engine,
        }

    app = create_api(
        __name__,
        settings=ProcessSettings(database_url="postgresql+psycopg2://unused@127.0.0.1:1/db"),
        problems=VALIDATION_PROBLEMS,
        blueprints=[views],
    )
    engine = app.extensions["engine"]
    return app.test_client()


def test_absent_query_values_are_none_and_the_limit_defaults_to_100(client):
    assert client.get("/list").json == {
        "order_id": None,
        "number": None,
        "limit": 100,
        "engine_is_the_apps": True,
    }


def test_present_query_values_are_parsed(client):
    assert client.get("/list?order_id=o-1&number=7&limit=500").json == {
        "order_id": "o-1",
        "number": 7,
        "limit": 500,
        "engine_is_the_apps": True,
    }


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("order_id=", 422, "validation-error"),
        ("order_id=o-1234", 422, "validation-error"),
        ("limit=0", 400, "invalid-query"),
        ("limit=501", 400, "invalid-query"),
        ("limit=ten", 400, "invalid-query"),
    ],
)
def test_wrong_query_values_are_problems(client, query, status, code):
    response = client.get(f"/list?{query}")
    assert (response.status_code, response.json["code"]) == (status, code)
