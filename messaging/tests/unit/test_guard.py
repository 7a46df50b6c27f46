"""The guard: who a bearer token is, 401 and 403 as problem+json, and the tokens' settings."""

from __future__ import annotations

import pytest
from flask import Blueprint

from messaging.credentials import (
    ADMIN,
    NOBODY,
    ORDER_SERVICE,
    Callers,
    Forbidden,
    Unauthenticated,
    bearer_token,
    callers_from_env,
)
from messaging.guard import only_for
from messaging.settings import ConfigurationError, Env, ProcessSettings
from messaging.web import create_api
from testsupport.callers import TEST_CALLERS, UNKNOWN_TOKEN, bearer, guard_answers

ORDER_TOKEN = TEST_CALLERS.tokens[ORDER_SERVICE]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (f"Bearer {ORDER_TOKEN}", ORDER_TOKEN),
        (f"bearer  {ORDER_TOKEN} ", ORDER_TOKEN),  # the scheme is case-insensitive (RFC 9110)
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer   ", None),
        (f"Basic {ORDER_TOKEN}", None),
        (ORDER_TOKEN, None),
    ],
)
def test_the_token_is_read_from_a_bearer_header_only(header, token):
    assert bearer_token(header) == token


def test_a_token_names_its_caller_and_anything_else_is_unauthenticated():
    assert TEST_CALLERS.identify(f"Bearer {ORDER_TOKEN}") == ORDER_SERVICE
    assert TEST_CALLERS.identify(bearer(ADMIN)["Authorization"]) == ADMIN
    for header in (
        None,
        "Bearer",
        f"Bearer {UNKNOWN_TOKEN}",
        f"Bearer {ORDER_TOKEN}x",
        f"Bearer {ORDER_TOKEN[:-1]}",
    ):
        with pytest.raises(Unauthenticated):
            TEST_CALLERS.identify(header)
    with pytest.raises(Unauthenticated):  # no callers configured: nobody gets in
        NOBODY.identify(f"Bearer {ORDER_TOKEN}")


def test_a_token_of_any_characters_is_compared_not_crashed_on():
    # hmac.compare_digest raises TypeError on non-ASCII str: a Latin-1 header must be a 401.
    for header in ("Bearer tok\u00e9n", "Bearer \u00ff\u00fe", "Bearer \udcff"):
        with pytest.raises(Unauthenticated):
            TEST_CALLERS.identify(header)
    assert Callers({ADMIN: "s\u00e9same"}).identify("Bearer s\u00e9same") == ADMIN


def test_a_known_caller_outside_its_endpoints_is_forbidden():
    assert (
        TEST_CALLERS.authorize(f"Bearer {ORDER_TOKEN}", allowed=frozenset({ORDER_SERVICE})) == ORDER_SERVICE
    )
    with pytest.raises(Forbidden) as refused:
        TEST_CALLERS.authorize(f"Bearer {ORDER_TOKEN}", allowed=frozenset({ADMIN}))
    assert refused.value.caller == ORDER_SERVICE


def test_every_token_is_required_and_two_callers_cannot_share_one():
    with pytest.raises(ConfigurationError, match="^ADMIN_TOKEN is required$"):
        callers_from_env(Env({"ORDER_SERVICE_TOKEN": "o"}))
    with pytest.raises(ConfigurationError, match="^ORDER_SERVICE_TOKEN is required$"):
        callers_from_env(Env({"ADMIN_TOKEN": "a", "ORDER_SERVICE_TOKEN": "  "}))
    with pytest.raises(ConfigurationError, match="must differ"):
        callers_from_env(Env({"ADMIN_TOKEN": "same", "ORDER_SERVICE_TOKEN": "same"}))
    assert callers_from_env(Env({"ADMIN_TOKEN": "a", "ORDER_SERVICE_TOKEN": "o"})) == Callers(
        {ADMIN: "a", ORDER_SERVICE: "o"}
    )


def test_a_guard_naming_an_unknown_caller_is_a_bug_found_at_import():
    with pytest.raises(ValueError, match="unknown callers"):
        only_for("order_service")  # the name is "order-service"
    with pytest.raises(ValueError):
        only_for()


def app_with_guarded_routes(callers: Callers = TEST_CALLERS):
    routes = Blueprint("routes", __name__)

    @routes.post("/internal")
    @only_for(ORDER_SERVICE)
    def internal():
        return {"done": True}

    @routes.get("/open")
    def open_route():
        return {"open": True}

    class NoEngine:  # create_api's readiness check is never called here
        pass

    return create_api(
        __name__,
        settings=ProcessSettings(database_url="unused"),
        engine=NoEngine(),
        problems={},
        blueprints=[routes],
        callers=callers,
    ).test_client()


def test_refusals_are_problem_json_401_with_a_bearer_challenge_and_403():
    client = app_with_guarded_routes()

    missing = client.post("/internal")
    unknown = client.post("/internal", headers={"Authorization": f"Bearer {UNKNOWN_TOKEN}"})
    forbidden = client.post("/internal", headers=bearer(ADMIN))

    assert (missing.status_code, missing.content_type, missing.json["code"]) == (
        401,
        "application/problem+json",
        "unauthenticated",
    )
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert (unknown.status_code, unknown.json["code"]) == (401, "unauthenticated")
    assert unknown.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert (forbidden.status_code, forbidden.content_type, forbidden.json["code"]) == (
        403,
        "application/problem+json",
        "forbidden",
    )
    assert forbidden.json["caller"] == ADMIN and "WWW-Authenticate" not in forbidden.headers


def test_the_guard_lets_its_caller_through_and_leaves_open_routes_open():
    client = app_with_guarded_routes()

    assert guard_answers(client, "POST", "/internal") == {
        "nobody": (401, "unauthenticated"),
        "unknown": (401, "unauthenticated"),
        ADMIN: (403, "forbidden"),
        ORDER_SERVICE: (200, None),
    }
    assert client.get("/open").json == {"open": True}


def test_an_app_given_no_callers_refuses_every_guarded_call():
    client = app_with_guarded_routes(NOBODY)

    assert client.post("/internal", headers=bearer(ORDER_SERVICE)).status_code == 401
    assert client.get("/open").status_code == 200
