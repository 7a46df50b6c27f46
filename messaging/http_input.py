"""Reading what a request carries, strictly: JSON bodies, events as bodies, query and path
values. Bad input is a 4xx problem+json here, never a 500 further down."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, request

from messaging.envelope import Envelope, MalformedEvent, PoisonEvent, envelope_from_json
from messaging.problems import Problem

T = TypeVar("T")
DIGITS = re.compile("[0-9]+")


MAX_BODY_BYTES = 64 * 1024  # Flask's MAX_CONTENT_LENGTH: a larger body is 413, unread
MAX_JSON_DEPTH = 16  # our deepest body (an order's items) is 3 levels
# What PostgreSQL cannot store in a text column: NUL, and lone UTF-16 surrogates (which JSON's
# \ud800 escapes can produce, and which no UTF-8 encoder accepts).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "holds a character that cannot be stored (NUL or a lone surrogate)"


def json_body() -> dict[str, Any]:
    """The body as a JSON object, or 400 invalid-json (not JSON, not an object, nested deeper
    than MAX_JSON_DEPTH); a string in it that cannot be stored is 422 validation-error naming
    its field (`items[0].sku`), before anything reaches the database."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # thousands of [ or {: Python's parser gives up, not a 500
        body = None
    if not isinstance(body, dict) or _deeper_than(body, MAX_JSON_DEPTH):
        raise Problem(
            status=400,
            code="invalid-json",
            title="The body must be a JSON object",
            detail=f"a JSON object nested at most {MAX_JSON_DEPTH} levels deep",
        )
    unstorable = [{"field": field, "message": UNSTORABLE_MESSAGE} for field in _unstorable_fields(body)]
    if unstorable:
        raise Problem(status=422, code="validation-error", title="The request is invalid", errors=unstorable)
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Objects and arrays nested more than `limit` deep ({"a": 1} is 1 deep)."""
    pending = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _unstorable_fields(value: Any, path: str = "") -> Iterator[str]:
    """The paths of the strings (keys included) in a parsed JSON value that hold UNSTORABLE."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            yield path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            field = f"{path}.{key}" if path else key
            if UNSTORABLE.search(key):
                yield field
            else:
                yield from _unstorable_fields(item, field)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_fields(item, f"{path}[{index}]")


def refuse_unstorable_parameters() -> None:
    """Before every request: a path or query value that cannot be stored is 422
    validation-error naming it (it would otherwise reach a query and fail there)."""
    values = [*(request.view_args or {}).items(), *request.args.items(multi=True)]
    errors = [
        {"field": name, "message": UNSTORABLE_MESSAGE}
        for name, value in values
        if isinstance(value, str) and (UNSTORABLE.search(value) or UNSTORABLE.search(name))
    ]
    if errors:
        raise Problem(status=422, code="validation-error", title="The request is invalid", errors=errors)


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
    # Digits only: int() would also take " 7", "+7", "1_000" and other scripts' digits ("٧").
    value = int(raw) if DIGITS.fullmatch(raw) and len(raw) <= 18 else minimum - 1
    if not minimum <= value <= maximum:
        raise Problem(
            status=400, code="invalid-query", title=f"{name} must be an integer from {minimum} to {maximum}"
        )
    return value
