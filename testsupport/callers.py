"""The callers of the tests' own apps: their tokens (not the stack's: those are compose.yaml's),
the header each presents, and a Flask test client that presents one on every request."""

from __future__ import annotations

from typing import Any

from messaging.credentials import ADMIN, ORDER_SERVICE, Callers

TEST_CALLERS = Callers({ADMIN: "test-admin-token", ORDER_SERVICE: "test-order-service-token"})
UNKNOWN_TOKEN = "test-nobody-token"


def bearer(caller: str) -> dict[str, str]:
    """The Authorization header of `caller` (ADMIN, ORDER_SERVICE) in TEST_CALLERS."""
    return {"Authorization": f"Bearer {TEST_CALLERS.tokens[caller]}"}


def acting_as(client: Any, caller: str) -> Any:
    """A Flask test client that is `caller` on every request; a request's own headers= win."""
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(caller)["Authorization"]
    return client


def guard_answers(client: Any, method: str, path: str, **request: Any) -> dict[str, tuple[int, str | None]]:
    """(status, problem code) of one request made by each presenter in turn: nobody, an unknown
    token, and every caller in TEST_CALLERS. `client` presents nothing of its own."""
    presenters = {
        "nobody": {},
        "unknown": {"Authorization": f"Bearer {UNKNOWN_TOKEN}"},
        **{caller: bearer(caller) for caller in TEST_CALLERS.tokens},
    }
    headers = request.pop("headers", {})
    answers = {}
    for who, credential in presenters.items():
        response = client.open(path, method=method, headers={**headers, **credential}, **request)
        body = response.get_json(silent=True)
        answers[who] = (response.status_code, body.get("code") if isinstance(body, dict) else None)
    return answers
