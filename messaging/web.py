"""HTTP plumbing every API shares: the app factory's common part, problem+json errors (one
table per service from domain exceptions to problems), health probes, JSON bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from messaging.database import make_engine
from messaging.envelope import Envelope, MalformedEvent, PoisonEvent, envelope_from_json
from messaging.settings import ProcessSettings, Role
from messaging.validation import InvalidIdempotencyKey, InvalidInput

T = TypeVar("T")

PROBLEM_BASE = "https://order-pipeline.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """An RFC 9457 problem: `code` is the stable part clients match on."""

    def __init__(self, *, status: int, code: str, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.code, self.title, self.detail, self.extra = status, code, title, detail, extra

    def to_dict(self) -> dict[str, Any]:
        body = {
            "type": PROBLEM_BASE + self.code,
            "code": self.code,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        return {**body, **self.extra}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(problem.to_dict())
    response.status_code = problem.status
    response.content_type = PROBLEM_CONTENT_TYPE
    response.headers.update(headers or {})
    return response


@dataclass(frozen=True)
class ProblemType:
    """How one kind of domain exception is answered. `code` and `title` may name the error's
    attributes (`"{error.service}-unavailable"`); `extra`: fields the exception adds to the
    body (e.g. the `errors` of a validation error); `detail`: str(error) as the detail;
    `headers`: response headers it calls for (e.g. Retry-After)."""

    status: int
    code: str
    title: str
    extra: Callable[[Any], dict[str, Any]] | None = None
    detail: bool = True
    headers: Callable[[Any], dict[str, str]] | None = None

    def problem(self, error: Exception) -> Problem:
        extra = self.extra(error) if self.extra else {}
        detail = str(error) if self.detail else ""
        return Problem(
            status=self.status,
            code=self.code.format(error=error),
            title=self.title.format(error=error),
            detail=detail,
            **extra,
        )

    def response(self, error: Exception) -> Response:
        return problem_response(self.problem(error), self.headers(error) if self.headers else None)


# A service's table: exception class -> how it is answered. Flask picks the entry of the
# most specific class, so a subclass can be answered differently from its base.
ProblemTable = Mapping[type[Exception], ProblemType]


def field_errors(error: Any) -> dict[str, Any]:
    """`extra` for a validation error whose `errors` are (field, message) pairs or dicts."""
    return {
        "errors": [
            each if isinstance(each, dict) else {"field": each.field, "message": each.message}
            for each in error.errors
        ]
    }


# The entries of every table whose service validates with messaging.validation.
VALIDATION_PROBLEMS: ProblemTable = {
    InvalidInput: ProblemType(
        422, "validation-error", "The request is invalid", extra=field_errors, detail=False
    ),
    InvalidIdempotencyKey: ProblemType(400, "invalid-idempotency-key", "The Idempotency-Key header is wrong"),
}


# The entry of every table whose API takes events over HTTP (POST /events): an event no retry
# can fix, answered as the consumer would dead-letter it.
EVENT_PROBLEMS: ProblemTable = {
    PoisonEvent: ProblemType(422, "invalid-event", "The event's data is invalid"),
}


def install_problems(app: Flask, table: ProblemTable) -> None:
    for kind, problem_type in table.items():
        app.register_error_handler(kind, problem_type.response)


def create_api(
    import_name: str,
    *,
    settings: ProcessSettings,
    engine: sa.Engine | None = None,
    problems: ProblemTable,
    blueprints: Iterable[Blueprint],
    extensions: Mapping[str, Any] | None = None,
) -> Flask:
    """The part of every service's `create_app(settings)` that is the same: the engine (a
    test's own, or one pooled for an API process), error handlers (problem+json for
    everything), the service's problem table, /healthz and /readyz (its database), its
    blueprints. Views reach `extension("settings")`, `extension("engine")` and whatever
    else the service put in `extensions`."""
    engine = engine or make_engine(settings.database_url, pool_size=settings.pool_size(Role.API))
    app = Flask(import_name)
    app.extensions.update(extensions or {}, settings=settings, engine=engine)
    install_error_handlers(app)
    install_problems(app, problems)
    app.register_blueprint(health_blueprint(checks={"database": database_check(engine)}))
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


def extension(name: str) -> Any:
    """What create_api put in the current app's extensions (e.g. "engine")."""
    return current_app.extensions[name]


def current_engine() -> sa.Engine:
    """The engine create_api gave the current app."""
    return extension("engine")


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(status=400, code="invalid-json", title="The body must be a JSON object")
    return body


MAX_EVENT_ID_LENGTH = 100  # contracts/envelope.schema.json; also the width of the inbox's key


def envelope_body() -> Envelope:
    """The event a request carries as its body (an Envelope's to_dict() as JSON), read as the
    AMQP consumers read a message, whatever the content type (CloudEvents' structured
    application/cloudevents+json included). Anything else is 422 malformed-event."""
    try:
        envelope = envelope_from_json(request.get_data())
        # The consumers trust the producers behind the broker; over HTTP anyone can post, so
        # check what the contract promises before it reaches a database column.
        if len(envelope.id) > MAX_EVENT_ID_LENGTH:
            raise MalformedEvent(f"id must be at most {MAX_EVENT_ID_LENGTH} characters")
        for name in ("correlationid", "subject"):
            if not isinstance(getattr(envelope, name), str | None):
                raise MalformedEvent(f"{name} must be a string")
    # Overflow: a dataversion of 1e400; recursion: absurdly nested JSON. Bad input, not a 500.
    except (MalformedEvent, OverflowError, RecursionError) as error:
        raise Problem(
            status=422, code="malformed-event", title="The body is not an event", detail=str(error)
        ) from error
    return envelope


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


def bounded_text(field: str, value: str, *, maximum: int, title: str = "The request is invalid") -> str:
    """A text parameter of 1 to `maximum` characters, else 422 validation-error naming it."""
    if not 1 <= len(value) <= maximum:
        raise Problem(
            status=422,
            code="validation-error",
            title=title,
            errors=[{"field": field, "message": f"must be 1 to {maximum} characters"}],
        )
    return value


def optional_query(name: str, parse: Callable[[str], T]) -> T | None:
    """An optional query parameter: None when absent, else `parse(value)`, which raises (a
    Problem or a domain error) when the value is wrong."""
    value = request.args.get(name)
    return None if value is None else parse(value)


def query_text(name: str, *, maximum: int) -> str | None:
    """An optional query parameter (absent: None; present: 1 to `maximum` characters)."""
    return optional_query(
        name, lambda value: bounded_text(name, value, maximum=maximum, title="The query is invalid")
    )


@contextmanager
def unstorable_as_poison(envelope: Envelope) -> Iterator[None]:
    """Around the handling of an event posted over HTTP: a value PostgreSQL cannot store (a NUL
    character) rolls the transaction back, and the event is refused as the consumer would
    dead-letter it (PoisonEvent: 422 invalid-event)."""
    try:
        yield
    except (ValueError, sa.exc.DataError) as error:
        current_app.logger.warning("event %s refused by the database: %s", envelope.id, error)
        raise PoisonEvent("the event holds a value that cannot be stored") from error


def list_limit() -> int:
    """`?limit=` of the lists that are JSON arrays: 1 to 500, 100 when absent."""
    return query_int("limit", default=100, minimum=1, maximum=500)


def query_int(name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        raise Problem(
            status=400, code="invalid-query", title=f"{name} must be an integer from {minimum} to {maximum}"
        )
    return value
