"""messaging/openapi.py: a service's document is served with the shared parts merged in."""

from __future__ import annotations

import json

from flask import Flask

from messaging.openapi import SERVER_RESPONSES, openapi_blueprint, openapi_document


def test_shared_paths_and_components_are_merged_and_the_service_wins(tmp_path):
    own = {
        "openapi": "3.1.0",
        "paths": {"/things": {"get": {}}, "/healthz": {"get": {"summary": "ours"}}},
        "components": {"schemas": {"Thing": {"type": "object"}, "Problem": {"title": "ours"}}},
    }
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(own))

    document = openapi_document(path)

    assert {"/things", "/healthz", "/readyz", "/openapi.json"} <= set(document["paths"])
    assert document["paths"]["/healthz"] == {"get": {"summary": "ours", "responses": SERVER_RESPONSES}}
    assert document["components"]["schemas"]["Problem"] == {"title": "ours"}
    assert {"Thing", "ValidationProblem"} <= set(document["components"]["schemas"])
    assert "DatabaseUnavailable" in document["components"]["responses"]


def test_every_operation_lists_the_servers_own_refusals(tmp_path):
    path = tmp_path / "openapi.json"
    own = {"openapi": "3.1.0", "paths": {"/things": {"post": {"responses": {"201": {}}}}}}
    path.write_text(json.dumps(own))

    document = openapi_document(path)

    operations = [op for item in document["paths"].values() for op in item.values()]
    assert all({"414", "431"} <= set(op["responses"]) for op in operations)
    assert set(document["paths"]["/things"]["post"]["responses"]) == {"201", "414", "431"}
    assert {"UriTooLong", "HeaderFieldsTooLarge"} <= set(document["components"]["responses"])


def test_the_document_is_served_as_json(tmp_path):
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps({"openapi": "3.1.0", "paths": {}}))
    app = Flask(__name__)
    app.register_blueprint(openapi_blueprint(path))

    response = app.test_client().get("/openapi.json")

    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["openapi"] == "3.1.0"


def test_document_drift_names_what_the_document_gets_wrong(tmp_path):
    from messaging.credentials import NOBODY
    from testsupport.openapi_fuzz import document_drift

    path = tmp_path / "openapi.json"
    path.write_text(
        json.dumps(
            {
                "openapi": "3.1.0",
                "paths": {
                    "/gone": {"get": {"responses": {"200": {"$ref": "#/components/responses/Nowhere"}}}}
                },
            }
        )
    )
    app = Flask(__name__)
    app.register_blueprint(openapi_blueprint(path))
    app.add_url_rule("/things", "things", lambda: {})
    app.extensions["callers"] = NOBODY  # as create_api sets it

    drift = document_drift(app)

    # /healthz, /readyz and /metrics come with the shared part; create_api serves them, this app does not.
    assert drift["routes"] == {
        "undocumented": {"GET /things"},
        "not served": {"GET /gone", "GET /healthz", "GET /readyz", "GET /metrics"},
    }
    assert drift["refs"] == ["#/components/responses/Nowhere"]
