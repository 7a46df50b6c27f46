"""Errors as RFC 9457 problem+json: the `Problem` itself, and each service's table from its
domain exceptions to problems (`ProblemTable`), installed by `create_api`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify

from messaging.credentials import Forbidden, Unauthenticated
from messaging.envelope import PoisonEvent
from messaging.validation import InvalidIdempotencyKey, InvalidInput

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


# The entries of every API (create_api installs them): the guard's refusals (messaging.guard).
GUARD_PROBLEMS: ProblemTable = {
    Unauthenticated: ProblemType(
        401,
        "unauthenticated",
        "A credential this service knows is required",
        headers=lambda error: {"WWW-Authenticate": error.challenge},
    ),
    Forbidden: ProblemType(
        403, "forbidden", "This credential is not allowed here", extra=lambda error: {"caller": error.caller}
    ),
}


def install_problems(app: Flask, table: ProblemTable) -> None:
    for kind, problem_type in table.items():
        app.register_error_handler(kind, problem_type.response)
