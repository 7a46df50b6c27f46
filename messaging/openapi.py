"""Each API's OpenAPI 3.1 document, served at GET /openapi.json. A service keeps its own paths in
`<service>/openapi.json`; what every API shares (the problem+json shape, the kit's 400, 413,
422 and 503, the probes, the bearer scheme and the guard's 401 and 403) is written once, in
`messaging/openapi.json`, and merged in here so that the served document is whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

SHARED = Path(__file__).with_name("openapi.json")
MERGED_SECTIONS = ("paths", "components")  # one level down: paths by path, components by kind


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
