"""The guard of the internal and operator endpoints: a view answers only the callers it names
(`@only_for(ORDER_SERVICE)`), told apart by their bearer tokens (`messaging.credentials`).

A decorator on the view rather than a blueprint's before_request: the guarded and the open
routes share blueprints (POST /reservations is guarded, GET /reservations/{id} is not), and
the rule is then read where the route is. It runs after create_api's before_request checks
of path and query values, and before the view reads the body."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from messaging.credentials import TOKEN_VARIABLES, Callers
from messaging.web import extension

View = TypeVar("View", bound=Callable[..., Any])


def require_caller(*allowed: str) -> str:
    """The calling caller's name if it is one of `allowed`; else Unauthenticated (401) or
    Forbidden (403). For a view whose guard depends on the request (a list that is open once
    filtered by order); other views use `only_for`."""
    callers: Callers = extension("callers")
    return callers.authorize(request.headers.get("Authorization"), allowed=frozenset(allowed))


def only_for(*allowed: str) -> Callable[[View], View]:
    """The view answers only `allowed` callers (ADMIN, ORDER_SERVICE)."""
    unknown = set(allowed) - set(TOKEN_VARIABLES)
    if unknown or not allowed:  # a typo would otherwise lock everybody out, silently
        raise ValueError(f"unknown callers {sorted(unknown)}; known: {sorted(TOKEN_VARIABLES)}")

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            require_caller(*allowed)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
