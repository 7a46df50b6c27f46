"""Each API's OpenAPI 3.1 document, served at GET /openapi.json. A service keeps its own paths in
`<service>/openapi.json`; what every API shares (the problem+json shape, the kit's 400, 413,
422 and 503, the probes, the bearer scheme and the guard's 401 and 403) is written once, in
`messaging/openapi.json`, and merged in here so that the served document is whole. The
server's own refusals (gunicorn's 414 and 431, messaging/server_problems.py) can answer any
request, so every operation lists them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

SHARED = Path(__file__).with_name("openapi.json")
METHODS = ("get", "put", "post", "delete", "patch")  # the keys of a path item that are operations
SERVER_RESPONSES = {
    "414": {"$ref": "#/components/responses/UriTooLong"},
    "431": {"$ref": "#/components/responses/HeaderFieldsTooLarge"},
}


def openapi_document(path: Path) -> dict[str, Any]:
    """The service's document with the shared paths and components added (the service's own
    entry wins on a clash)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    shared = json.loads(SHARED.read_text(encoding="utf-8"))
    document.setdefault("paths", {}).update(
        {name: item for name, item in shared["paths"].items() if name not in document["paths"]}
    )
    components = document.setdefault("components", {})
    for kind, entries in shared["components"].items():
        components[kind] = {**entries, **components.get(kind, {})}
    for item in document["paths"].values():
        for method in METHODS:
            if method in item:
                item[method]["responses"] = {**item[method].get("responses", {}), **SERVER_RESPONSES}
    return document


def openapi_blueprint(path: Path) -> Blueprint:
    """GET /openapi.json: the document, read and merged once when the app is built (a broken
    file stops the process at start, not at the first request)."""
    document = openapi_document(path)
    blueprint = Blueprint("openapi", __name__)

    @blueprint.get("/openapi.json")
    def openapi():
        return jsonify(document)

    return blueprint
