"""The values of request validation that every service's rules share. Standard library only,
so that a `domain.py` may import it: a field's error, the exception that carries them (422
validation-error), the wrong Idempotency-Key (400), and the integer check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidInput(Exception):
    """The input breaks these rules, one FieldError per field (api.py: 422 with `errors`)."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


class InvalidIdempotencyKey(Exception):
    """The Idempotency-Key header is not the one derived from the order (`expected`)."""

    def __init__(self, *, expected: str) -> None:
        self.expected = expected
        super().__init__(f"Idempotency-Key must be {expected!r}")


def require_idempotency_key(*, header: str | None, expected: str) -> None:
    if header != expected:
        raise InvalidIdempotencyKey(expected=expected)


def is_integer(value: Any) -> bool:
    """An integer in JSON: True is an int in Python, not here."""
    return isinstance(value, int) and not isinstance(value, bool)


def integer_error(value: Any, *, minimum: int, maximum: int) -> str | None:
    """What is wrong with `value` as an integer from `minimum` to `maximum`, or None."""
    if not is_integer(value):
        return "must be an integer"
    if not minimum <= value <= maximum:
        return f"must be from {minimum} to {maximum}"
    return None
