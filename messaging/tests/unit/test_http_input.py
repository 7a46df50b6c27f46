"""What a request carries is read strictly: limits on size and nesting, characters the
database cannot store, digits that are digits. A 4xx problem, never a 500."""

from __future__ import annotations

import pytest
from flask import Blueprint

from messaging.http_input import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_body, query_int
from messaging.settings import ProcessSettings
from messaging.web import create_api

views = Blueprint("views", __name__)


@views.post("/echo")
def echo():
    return json_body()


@views.get("/count/<name>")
def count(name: str):
    return {"name": name, "n": query_int("n", default=1, minimum=1, maximum=10)}


@pytest.fixture
def client():
    settings = ProcessSettings(database_url="postgresql+psycopg2://unused@127.0.0.1:1/db")
    return create_api(__name__, settings=settings, problems={}, blueprints=[views]).test_client()


def test_a_body_within_the_limits_comes_through(client):
    body = {"a": [{"b": "x" * 100}], "c": None}
    assert client.post("/echo", json=body).json == body


def test_a_body_nested_one_level_too_deep_is_400(client):
    deepest_allowed = {"a": 1}
    for _ in range(MAX_JSON_DEPTH - 1):
        deepest_allowed = {"a": deepest_allowed}
    assert client.post("/echo", json=deepest_allowed).status_code == 200
    response = client.post("/echo", json={"a": deepest_allowed})
    assert (response.status_code, response.json["code"]) == (400, "invalid-json")


def test_a_body_larger_than_the_limit_is_413_problem(client):
    response = client.post("/echo", json={"a": "x" * MAX_BODY_BYTES})
    assert (response.status_code, response.content_type) == (413, "application/problem+json")


def test_every_unstorable_string_is_named_keys_included(client):
    body = {"ok": "fine", "bad\x00key": 1, "lines": [{"sku": "A\x00"}, {"sku": "B"}], "s": "\ud83d"}
    response = client.post("/echo", data=json_text(body), content_type="application/json")
    assert (response.status_code, response.json["code"]) == (422, "validation-error")
    assert [error["field"] for error in response.json["errors"]] == ["bad\x00key", "lines[0].sku", "s"]


def test_a_valid_astral_character_is_stored_not_refused(client):
    assert client.post("/echo", json={"s": "mug \U0001f375"}).status_code == 200


@pytest.mark.parametrize("raw", ["²", "٧", " 7", "+7", "1_0", "9" * 30, "", "-1"])
def test_a_query_integer_is_ascii_digits_only(client, raw):
    response = client.get("/count/x", query_string={"n": raw})
    assert (response.status_code, response.json["code"]) == (400, "invalid-query")


def test_unstorable_path_and_query_values_are_422_naming_them(client):
    response = client.get("/count/a%00b?n=1&q=%00")
    assert (response.status_code, response.json["code"]) == (422, "validation-error")
    assert [error["field"] for error in response.json["errors"]] == ["name", "q"]


def json_text(body) -> str:
    import json

    return json.dumps(body)  # escapes what cannot be sent raw (a lone surrogate as \ud83d)
