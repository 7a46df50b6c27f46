"""The inventory's OpenAPI document: served whole, naming exactly the routes Flask serves, and
the guard each applies (`security`, `x-caller`)."""

from __future__ import annotations

from inventory_service.api import create_app
from inventory_service.config import Settings
from messaging.credentials import ADMIN, ORDER_SERVICE
from testsupport.callers import TEST_CALLERS, UNKNOWN_TOKEN, bearer
from testsupport.openapi_fuzz import conforms, document_drift

SETTINGS = Settings(
    database_url="postgresql+psycopg2://nobody:nothing@127.0.0.1:1/nowhere?connect_timeout=1",
    callers=TEST_CALLERS,
)


def test_the_served_document_is_true_to_the_app():
    assert document_drift(create_app(SETTINGS)) == {}


def test_a_database_that_does_not_answer_is_a_documented_503():
    app = create_app(SETTINGS)

    assert conforms(app, "GET", "/products", unavailable=True).status_code == 503
    assert conforms(app, "GET", "/readyz", unavailable=True).status_code == 503


def test_the_guards_refusals_are_documented():
    app = create_app(SETTINGS)
    unknown = {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}

    assert conforms(
        app, "POST", "/reservations/{order_id}/commit", path_parameters={"order_id": "o-1"}
    ).headers["www-authenticate"] == ["Bearer"]
    assert (
        conforms(
            app,
            "POST",
            "/reservations/{order_id}/commit",
            path_parameters={"order_id": "o-1"},
            headers=unknown,
        ).status_code
        == 401
    )
    assert (
        conforms(
            app,
            "POST",
            "/reservations/{order_id}/commit",
            path_parameters={"order_id": "o-1"},
            headers=bearer(ADMIN),
        ).json()["caller"]
        == ADMIN
    )
    assert conforms(app, "PUT", "/products/{sku}", path_parameters={"sku": "SKU-RED-MUG"}).status_code == 401
    assert (
        conforms(
            app,
            "PUT",
            "/products/{sku}",
            path_parameters={"sku": "SKU-RED-MUG"},
            headers=bearer(ORDER_SERVICE),
        ).status_code
        == 403
    )
