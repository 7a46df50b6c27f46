"""An API against its own OpenAPI document, in-process (schemathesis on the Flask app, hypothesis
generating): `conforms` checks one hand-made request, `fuzz` sends generated ones, valid and
invalid, to every operation, and counts the requests and what the checks refused."""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from flask import Flask
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

PROBLEM_JSON = "application/problem+json"


@schemathesis.check
def errors_are_problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """docs/api.md: every error of every API is application/problem+json."""
    content_type = response.headers.get("content-type", [""])[0]
    if response.status_code >= 400 and not content_type.startswith(PROBLEM_JSON):
        raise AssertionError(f"{response.status_code} answered as {content_type!r}, not {PROBLEM_JSON}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    errors_are_problem_json,
]


def api_schema(app: Flask) -> Any:
    """The app's document as it serves it (GET /openapi.json), its requests sent to the app."""
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def conforms(app: Flask, method: str, path: str, *, unavailable: bool = False, **request: Any) -> Any:
    """Sends one request (`path` is the document's template, `request` the Case's
    path_parameters, query, headers, body) and checks its answer against the document: the
    response, or an AssertionError naming what does not match. `unavailable`: a 503 (a
    dependency down on purpose) is expected, so it is checked like any other answer."""
    operation = api_schema(app)[path][method.upper()]
    case = operation.Case(**request)
    return case.call_and_validate(checks=[c for c in CHECKS if not (unavailable and c is not_a_server_error)])


FLASK_VARIABLE = re.compile(r"<(?:[^:>]+:)?([^>]+)>")  # <sku>, <int:id>
AS_TEMPLATE = r"{\1}"  # ... written {sku}, {id} in the document


def route_drift(app: Flask) -> dict[str, set[str]]:
    """The routes Flask serves and the operations the served document describes, each set less
    the other: both empty when they agree ("GET /products/{sku}", Flask's <sku> as {sku})."""
    routes = {
        f"{method} {FLASK_VARIABLE.sub(AS_TEMPLATE, rule.rule)}"
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    document = app.test_client().get("/openapi.json").get_json()
    operations = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }
    return {"undocumented": routes - operations, "not served": operations - routes}


def dangling_refs(document: Any, root: Any = None) -> list[str]:
    """Every local "$ref" of the document that points nowhere."""
    root = document if root is None else root
    if isinstance(document, list):
        return [ref for item in document for ref in dangling_refs(item, root)]
    if not isinstance(document, dict):
        return []
    found = []
    if isinstance(ref := document.get("$ref"), str):
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            found.append(ref)
    return found + [ref for value in document.values() for ref in dangling_refs(value, root)]


@dataclass
class FuzzReport:
    service: str
    seed: int
    requests: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"fuzz {self.service}: {self.requests} requests, 5xx={self.server_errors}, "
            f"check failures={len(self.failures)}, {self.seconds:.1f} s (FUZZ_SEED={self.seed})"
        )


def fuzz(app: Flask, *, service: str, examples: int, skip: frozenset[str] = frozenset()) -> FuzzReport:
    """`examples` generated requests per operation and mode (valid, then invalid), each answer
    checked with CHECKS. A failure is recorded, not raised, so that one run counts them all.
    FUZZ_SEED=... replays a run; `skip`: "METHOD /path" labels left out (say why where called)."""
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    report = FuzzReport(service=service, seed=seed)
    started = time.monotonic()
    for result in api_schema(app).get_all_operations():
        operation = result.ok()
        if operation.label in skip:
            continue
        for mode in (
            (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            if _negatable(operation)
            else [GenerationMode.POSITIVE]
        ):
            _fuzz_operation(operation, mode, examples=examples, seed=seed, report=report)
    report.seconds = time.monotonic() - started
    return report


def _negatable(operation: Any) -> bool:
    """Whether schemathesis can make an invalid request of it. Not for an operation without
    input (GET /healthz), nor for one whose only input is a path segment any string up to a
    length fits: it finds no invalid value that a path can carry, after trying for seconds."""
    return bool(list(operation.body)) or any(
        parameter.location.value != "path" or "pattern" in parameter.definition.get("schema", {})
        for parameter in operation.iter_parameters()
    )


def _fuzz_operation(operation: Any, mode: GenerationMode, *, examples: int, seed: int, report: FuzzReport):
    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,  # no example database in the work tree; FUZZ_SEED replays instead
        phases=[hypothesis.Phase.generate],  # every example counted, none shrunk
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Any) -> None:
        response = case.call()
        report.requests += 1
        report.server_errors += response.status_code >= 500
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as failure:  # a FailureGroup too
            report.failures.append(
                f"{operation.label} ({mode.value}): {_describe(failure)}\n    {case.as_curl_command()}"
            )

    send()


def _describe(failure: BaseException) -> str:
    if isinstance(failure, BaseExceptionGroup):
        return "; ".join(_describe(each) for each in failure.exceptions)
    return str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
