"""An API against its own OpenAPI document, in-process (schemathesis on the Flask app, hypothesis
generating): `conforms` checks one hand-made request, `fuzz` sends generated ones, valid and
invalid, to every operation, and counts the requests and what the checks refused.

A guarded operation (messaging/guard.py) has `security` in the document and names the caller
whose token it takes in `x-caller` (`admin`, `order-service`); `guard_drift` holds those to
what the app's guard does, and `fuzz` sends each generated request to it with no credential,
an unknown token, the other caller's token or the right caller's (drawn), so that both the
guard and the validators behind it are exercised."""

from __future__ import annotations

import itertools
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

from messaging.openapi import METHODS
from testsupport.callers import UNKNOWN_TOKEN

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
        if method in METHODS
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


def guarded_caller(definition: Any) -> str | None:
    """The caller a guarded operation's `x-caller` names (None: the operation is open). An
    operation with `security` must name one, so that a test knows whose token to present."""
    if not definition.get("security"):
        return None
    caller = definition.get("x-caller")
    if not isinstance(caller, str):
        raise ValueError(f"{definition.get('operationId')}: `security` without the `x-caller` it takes")
    return caller


def guard_drift(app: Flask) -> dict[str, str]:
    """Each operation whose document says otherwise than the app's guard does, with both: the
    presenters it lets through (nobody, an unknown token, each caller the app knows), asked
    with no body and no query, and, for `security: [{}, ...]` (open once filtered), whether
    some query parameter (set to "x") lets nobody in; a guarded operation must list its 401
    and 403. Empty when they agree. The guard answers before the database is reached, so the
    app needs none."""
    client = app.test_client()
    presenters = {"nobody": None, "unknown": UNKNOWN_TOKEN, **app.extensions["callers"].tokens}
    document = client.get("/openapi.json").get_json()
    drift = {}
    for path, item in document["paths"].items():
        for method, definition in item.items():
            if method not in METHODS:
                continue
            request = {"path": re.sub(r"\{[^}]+\}", "x", path), "method": method.upper()}
            admitted = {who for who, token in presenters.items() if not _refused(client, token, **request)}
            caller = guarded_caller(definition)
            documented = set(presenters) if caller is None else {caller}
            open_with = [
                parameter["name"]
                for parameter in definition.get("parameters", [])
                if parameter.get("in") == "query"
                and not _refused(client, None, **request, query_string={parameter["name"]: "x"})
            ]
            optional = {} in definition.get("security", [])
            refusals = {"401", "403"} <= set(definition["responses"])
            if admitted != documented or (
                caller is not None and (optional != bool(open_with) or not refusals)
            ):
                drift[f"{method.upper()} {path}"] = (
                    f"documented: {sorted(documented)}{' (open when filtered)' if optional else ''}"
                    f"{'' if refusals or caller is None else ' without its 401 and 403'}; "
                    f"served: {sorted(admitted)}{f' (open with {open_with})' if open_with else ''}"
                )
    return drift


def _refused(client: Any, token: str | None, **request: Any) -> bool:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.open(headers=headers, **request).status_code in (401, 403)


# What a guarded operation's generated requests present, in turn: every other one the right
# caller's token (it reaches the validators), the others each of the guard's three refusals.
# In turn, not drawn: hypothesis draws the first of a sampled_from over half the time.
RIGHT, NO_CREDENTIAL, UNKNOWN, OTHER_CALLER = "right", "none", "unknown", "other caller"
PRESENTED = (RIGHT, NO_CREDENTIAL, RIGHT, UNKNOWN, RIGHT, OTHER_CALLER)


def document_drift(app: Flask) -> dict[str, Any]:
    """What makes an app's served document untrue to the app, by kind; empty when nothing:
    served whole (3.1, the shared Problem schema and health routes merged in), the routes
    (route_drift), its local references (dangling_refs), the guards (guard_drift)."""
    response = app.test_client().get("/openapi.json")
    document = response.get_json(silent=True) or {}
    whole = (
        response.status_code == 200
        and str(document.get("openapi", "")).startswith("3.1")
        and "Problem" in document.get("components", {}).get("schemas", {})
        and "/healthz" in document.get("paths", {})
    )
    found: dict[str, Any] = {} if whole else {"served": response.status_code}
    routes = route_drift(app)
    for kind, drift in (
        ("routes", routes if any(routes.values()) else None),
        ("refs", dangling_refs(document)),
    ):
        if drift:
            found[kind] = drift
    if guards := guard_drift(app):
        found["guards"] = guards
    return found


@dataclass
class FuzzReport:
    service: str
    seed: int
    requests: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    presented: dict[str, int] = field(default_factory=dict)  # guarded operations' requests, by PRESENTED
    # The right caller's requests by mode and answer ("valid 2xx", "invalid 422" ...): what reached the view.
    right_answers: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        refused = {kind: self.presented.get(kind, 0) for kind in (NO_CREDENTIAL, UNKNOWN, OTHER_CALLER)}
        answers = ", ".join(f"{count} {answer}" for answer, count in sorted(self.right_answers.items()))
        refusals = ", ".join(f"{count} {kind}" for kind, count in refused.items())
        guarded = (
            f"guarded: {self.presented.get(RIGHT, 0)} with the right token ({answers}), "
            f"{sum(refused.values())} without ({refusals})"
        )
        return (
            f"fuzz {self.service}: {self.requests} requests ({guarded}), 5xx={self.server_errors}, "
            f"check failures={len(self.failures)}, {self.seconds:.1f} s (FUZZ_SEED={self.seed})"
        )


def fuzz(app: Flask, *, service: str, examples: int, skip: frozenset[str] = frozenset()) -> FuzzReport:
    """`examples` generated requests per operation and mode (valid, then invalid), each answer
    checked with CHECKS. A failure is recorded, not raised, so that one run counts them all.
    FUZZ_SEED=... replays a run; `skip`: "METHOD /path" labels left out (say why where called).
    A guarded operation's requests present PRESENTED in turn, with the tokens of the
    callers the app knows (build it with `callers=TEST_CALLERS`); its answers are checked
    beyond the document too: the right caller is never refused (401, 403), and no other gets
    a 2xx where the operation is never open (`security` without `{}`)."""
    return fuzz_schema(
        api_schema(app),
        tokens=app.extensions["callers"].tokens,
        service=service,
        examples=examples,
        skip=skip,
    )


def fuzz_schema(
    schema: Any, *, tokens: dict[str, str], service: str, examples: int, skip: frozenset[str] = frozenset()
) -> FuzzReport:
    """`fuzz` on any loaded document: an app's, or a running API's (`schemathesis.openapi.from_url`,
    its requests sent over HTTP: found the total-0 order's 503, see order_service's saga tests);
    `tokens`: caller -> the token that API takes from it."""
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    report = FuzzReport(service=service, seed=seed)
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in skip:
            continue
        credentials = _credentials(operation, tokens)
        for mode in (
            (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            if _negatable(operation)
            else [GenerationMode.POSITIVE]
        ):
            _fuzz_operation(operation, mode, credentials, examples=examples, seed=seed, report=report)
    report.seconds = time.monotonic() - started
    return report


def _negatable(operation: Any) -> bool:
    """Whether schemathesis can make an invalid request of it. Not for an operation without
    input (GET /healthz), nor for one whose only input is a path segment any string up to a
    length fits: it finds no invalid value that a path can carry, after trying for seconds. The
    bearer scheme's Authorization header does not count: `fuzz` replaces it with a credential
    of its own, which would turn a request negated there alone into a valid one."""
    return bool(list(operation.body)) or any(
        (parameter.location.value != "path" or "pattern" in parameter.definition.get("schema", {}))
        and not (parameter.location.value == "header" and parameter.name.lower() == "authorization")
        for parameter in operation.iter_parameters()
    )


def _credentials(operation: Any, tokens: Any) -> dict[str, str | None] | None:
    """PRESENTED kind -> the Authorization header it sends (None: none), for a guarded
    operation; None for an open one."""
    caller = guarded_caller(operation.definition.raw)
    if caller is None:
        return None
    others = sorted(set(tokens) - {caller})
    if caller not in tokens or not others or UNKNOWN_TOKEN in tokens.values():
        raise ValueError(f"{operation.label} takes {caller}'s token: build the app with callers=TEST_CALLERS")
    return {
        RIGHT: f"Bearer {tokens[caller]}",
        NO_CREDENTIAL: None,
        UNKNOWN: f"Bearer {UNKNOWN_TOKEN}",
        OTHER_CALLER: f"Bearer {tokens[others[0]]}",
    }


def _guard_failure(operation: Any, presented: str | None, status: int) -> str | None:
    """What the answer to a guarded operation's request says of the guard, if it is wrong."""
    if presented == RIGHT and status in (401, 403):
        return f"the right caller's token was refused ({status})"
    if (
        presented not in (None, RIGHT)
        and 200 <= status < 300
        and {} not in operation.definition.raw["security"]
    ):
        return f"{status} with {presented}, not the right caller's token"
    return None


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    credentials: dict[str, str | None] | None,
    *,
    examples: int,
    seed: int,
    report: FuzzReport,
):
    turn = itertools.count()

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
        presented = None
        if credentials is not None:
            presented = PRESENTED[next(turn) % len(PRESENTED)]
            # Whatever schemathesis made of the bearer scheme, this credential replaces it.
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            if (header := credentials[presented]) is not None:
                case.headers["Authorization"] = header
            report.presented[presented] = report.presented.get(presented, 0) + 1
        response = case.call()
        report.requests += 1
        report.server_errors += response.status_code >= 500
        if presented == RIGHT:
            answer = f"{mode.value} {response.status_code // 100}xx"
            report.right_answers[answer] = report.right_answers.get(answer, 0) + 1
        label = f"{operation.label} ({mode.value}{f', {presented}' if presented else ''})"
        if guard := _guard_failure(operation, presented, response.status_code):
            report.failures.append(f"{label}: {guard}\n    {case.as_curl_command()}")
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as failure:  # a FailureGroup too
            report.failures.append(f"{label}: {_describe(failure)}\n    {case.as_curl_command()}")

    send()


def _describe(failure: BaseException) -> str:
    if isinstance(failure, BaseExceptionGroup):
        return "; ".join(_describe(each) for each in failure.exceptions)
    return str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
