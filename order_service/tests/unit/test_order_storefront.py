"""order-web's pages and checkout without servers: the order API is a fake, the database is
never reached (what needs it, the catalog's products too, is in
tests/integration/test_order_web.py)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from order_service.config import WebSettings
from order_service.storefront import (
    ApiAnswer,
    ShopUnreachable,
    availability_label,
    create_app,
    customer_id_for,
)

SETTINGS = WebSettings(database_url="unused", secret_key="test-secret", public_url="http://shop.test")
UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade"}


class FakeShop:
    def __init__(self) -> None:
        self.answer = ApiAnswer(status=201, body={"id": "o-1", "status": "CONFIRMED"})
        self.placed: list[tuple[str, dict]] = []
        self.down = False

    def place_order(self, *, idempotency_key, body):
        if self.down:
            raise ShopUnreachable("order")
        self.placed.append((idempotency_key, body))
        return self.answer


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, **email):
        self.sent.append(email)


@pytest.fixture
def shop():
    return FakeShop()


@pytest.fixture
def mailer():
    return FakeMailer()


@pytest.fixture
def client(shop, mailer):
    never = sa.create_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none")  # connects to nothing
    return create_app(SETTINGS, engine=never, mailer=mailer, shop=shop, listen=False).test_client()


def test_the_catalog_says_so_when_its_database_is_down(client):
    response = client.get("/")
    assert response.status_code == 503 and "cannot show the catalog" in response.get_data(as_text=True)


def test_availability_reads_as_words_and_a_word_the_shop_does_not_know_as_it_is():
    words = [availability_label(word) for word in ("in_stock", "low", "out_of_stock", "back_soon")]
    assert words == ["In stock", "Low stock", "Out of stock", "Back soon"]


def test_pages_load_nothing_from_elsewhere(client):
    for path in ("/", "/checkout", "/my-orders"):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', page), path


def test_checkout_places_the_order_with_the_page_key(client, shop):
    response = client.post(
        "/checkout",
        json={
            "email": " ada@example.test ",
            "payment_token": "tok_visa",
            "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 1200}],
        },
        headers={"Idempotency-Key": "web-key-1"},
    )

    assert response.status_code == 201
    assert response.json == {"order_id": "o-1", "status": "CONFIRMED", "url": "/orders/o-1"}
    assert shop.placed == [
        (
            "web-key-1",
            {
                "customer_id": customer_id_for("ada@example.test"),
                "email": "ada@example.test",
                "items": [{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 1200}],  # the price seen
                "payment_token": "tok_visa",
            },
        )
    ]


def test_checkout_without_a_key_is_refused_before_the_order_api(client, shop):
    response = client.post("/checkout", json={})
    assert (response.status_code, response.json["code"], shop.placed) == (400, "missing-idempotency-key", [])


def test_an_order_that_failed_for_a_dependency_still_leads_to_its_page(client, shop):
    shop.answer = ApiAnswer(
        status=503, body={"code": "payment-unavailable", "order": {"id": "o-2", "status": "FAILED"}}
    )

    response = client.post("/checkout", json={"email": "a@b.cd"}, headers={"Idempotency-Key": "k"})

    assert (response.status_code, response.json["order_id"]) == (503, "o-2")


def test_the_order_api_s_validation_errors_read_as_sentences(client, shop):
    shop.answer = ApiAnswer(
        status=422,
        body={
            "code": "validation-error",
            "errors": [
                {"field": "email", "message": "a valid email address"},
                {"field": "items[0].quantity", "message": "an integer from 1 to 1000"},
            ],
        },
    )

    response = client.post("/checkout", json={"email": "nope"}, headers={"Idempotency-Key": "k"})

    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert response.json["title"] == (
        "Please check the order: Email: a valid email address; Cart line 1: an integer from 1 to 1000"
    )


def test_no_answer_from_the_order_api_says_to_press_again(client, shop):
    shop.down = True

    response = client.post("/checkout", json={}, headers={"Idempotency-Key": "k"})

    assert (response.status_code, response.json["code"]) == (503, "order-service-unreachable")
    assert "Press Place order again" in response.json["title"]


def test_my_orders_asks_for_an_email_before_it_lists_anything(client):
    page = client.get("/my-orders").get_data(as_text=True)
    assert 'id="signin-email"' in page and 'id="my-orders"' not in page


def test_a_sign_in_link_is_mailed_and_following_it_signs_in(client, mailer):
    response = client.post("/my-orders/sign-in", data={"email": "ada@example.test"})

    assert response.status_code == 200 and "ada@example.test" in response.get_data(as_text=True)
    [email] = mailer.sent
    assert email["to"] == "ada@example.test" and email["minutes"] == 15
    assert email["link"].startswith("http://shop.test/my-orders/sign-in?token=")  # never the Host header

    followed = client.get(email["link"].removeprefix("http://shop.test"))
    assert (followed.status_code, followed.headers["Location"]) == (303, "/my-orders")
    with client.session_transaction() as session:
        assert session["email"] == "ada@example.test"


def test_a_bad_sign_in_link_or_address_is_refused(client, mailer):
    assert client.get("/my-orders/sign-in?token=forged").status_code == 400
    assert client.post("/my-orders/sign-in", data={"email": "not an address"}).status_code == 422
    assert mailer.sent == []


def test_the_live_socket_refuses_a_bad_after_and_a_plain_request_before_any_read(client):
    bad_after = client.get("/ws/orders/o-1?after=-1", headers=UPGRADE)
    plain = client.get("/ws/orders/o-1")

    assert (bad_after.status_code, bad_after.json["code"]) == (400, "invalid-query")
    assert (plain.status_code, plain.json["code"]) == (426, "websocket-required")


def test_an_unknown_page_is_a_page(client):
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.content_type.startswith("text/html")
