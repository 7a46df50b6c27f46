"""HTTP plumbing every API shares: the app factory's common part (`create_api`), the error
handlers that make every error problem+json, health probes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app
from prometheus_client.registry import Collector
from werkzeug.exceptions import HTTPException

from messaging.credentials import NOBODY, Callers
from messaging.database import make_engine
from messaging.http_input import MAX_BODY_BYTES, refuse_unstorable_parameters
from messaging.http_metrics import install_request_metrics, metrics_blueprint
from messaging.http_tracing import install_request_tracing
from messaging.openapi import openapi_blueprint
from messaging.problems import GUARD_PROBLEMS, Problem, ProblemTable, install_problems, problem_response
from messaging.settings import ProcessSettings, Role


def create_api(
    import_name: str,
    *,
    settings: ProcessSettings,
    engine: sa.Engine | None = None,
    problems: ProblemTable,
    blueprints: Iterable[Blueprint],
    extensions: Mapping[str, Any] | None = None,
    callers: Callers = NOBODY,
    openapi: Path | None = None,
    collectors: Iterable[Collector] = (),
) -> Flask:
    """The part of every service's `create_app(settings)` that is the same: the engine (a
    test's own, or one pooled for an API process), error handlers (problem+json for
    everything), the service's problem table, /healthz and /readyz (its database), its
    blueprints, and GET /openapi.json when `openapi` names the service's document
    (messaging/openapi.py). /readyz does not check the broker: no API publishes or consumes
    (the order and warehouse APIs write events to their outbox, for the relay), so a broker
    outage must not take them out of service; the workers and relays report it
    (messaging.liveness). The warehouse's and notification's APIs do use it, but only in the
    operator's GET and POST /dead-letters (messaging.dead_letter_api), which connect on
    demand and answer 503 `broker-unavailable` themselves: a broker check here would take
    every other route out of service with them (and, in compose, hold back the workers that
    wait for a healthy API) for an endpoint used by hand. Views reach `extension("settings")`,
    `extension("engine")` and whatever else the service put in `extensions`. `callers`: whose
    tokens the guarded views (`messaging.guard`) accept; nobody's when not given. GET /metrics
    (messaging.http_metrics): the request metrics, and the service's scrape-time `collectors`.
    Every request has a span continuing the caller's `traceparent` (messaging.http_tracing)."""
    engine = engine or make_engine(settings.database_url, pool_size=settings.pool_size(Role.API))
    app = Flask(import_name)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    install_request_tracing(app)  # first: a request a later hook refuses has its span too
    install_request_metrics(app)  # before the rest: a request the next hook refuses is counted too
    app.before_request(refuse_unstorable_parameters)
    app.extensions.update(extensions or {}, settings=settings, engine=engine, callers=callers)
    install_error_handlers(app)
    install_problems(app, {**GUARD_PROBLEMS, **problems})
    app.register_blueprint(health_blueprint(checks={"database": database_check(engine)}))
    app.register_blueprint(metrics_blueprint(collectors))
    if openapi is not None:
        app.register_blueprint(openapi_blueprint(openapi))
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


def extension(name: str) -> Any:
    """What create_api put in the current app's extensions (e.g. "engine")."""
    return current_app.extensions[name]


def current_engine() -> sa.Engine:
    """The engine create_api gave the current app."""
    return extension("engine")


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def on_problem(problem: Problem):
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "-")
        return problem_response(
            Problem(status=error.code or 500, code=code, title=error.name, detail=error.description or "")
        )

    @app.errorhandler(sa.exc.OperationalError)
    def on_database_down(error):
        app.logger.warning("database unavailable: %s", error)
        return problem_response(
            Problem(
                status=503, code="database-unavailable", title="The database is unavailable, retry later"
            ),
            {"Retry-After": "2"},
        )


def health_blueprint(*, checks: dict[str, Callable[[], None]]) -> Blueprint:
    """/healthz: the process answers. /readyz: every dependency in `checks` answers."""
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @blueprint.get("/readyz")
    def readyz():
        failures = {}
        for name, check in checks.items():
            try:
                check()
            except Exception as error:  # noqa: BLE001 - any failure means not ready
                failures[name] = type(error).__name__
        if failures:
            return problem_response(
                Problem(status=503, code="not-ready", title="A dependency is unavailable", failures=failures)
            )
        return {"status": "ready", "checks": sorted(checks)}

    return blueprint


def database_check(engine: sa.Engine) -> Callable[[], None]:
    def check() -> None:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    return check
