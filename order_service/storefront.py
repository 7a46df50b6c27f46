"""order-web: the storefront (catalog and cart, checkout, the order page with its live
timeline, "my orders") and the WebSocket of an order's steps (order_service/live.py). The
composition root of this process: `create_app(settings)`, which gunicorn calls as
`create_app()` with one gevent worker (why: CONTRIBUTING.md, "order-web's server model").

It is a process of the order service: it reads the order database (never writes it), the
catalog included (the order service's copy of the inventory's, order_service/catalog.py: the
shop shows its products with the inventory down), and places and cancels orders through the
order API like any client (so the saga, the idempotency keys and the rules stay in one place).

Pages are plain HTML rendered here, with one small script (static/shop.js) for the cart, the
Idempotency-Key and the live timeline; nothing is fetched from anywhere else. The ids and
data attributes that tests and the script rely on:

- catalog `/`: `#add-<sku>` (a product's add button: data-sku, data-name, data-price-cents,
  data-max-quantity; disabled when out of stock), `#stock-<sku>` (its availability in words,
  data-availability), `#cart` (data-count), `#go-to-checkout`;
- checkout `/checkout`: `#checkout-form`, `#email`, `input[name=payment_token]` (`#card-<token>`),
  `#checkout-button`, `#checkout-error`;
- order `/orders/{id}`: `#order-status` (data-status), `#timeline` (data-last-seq) whose
  entries are `li[data-seq][data-kind][data-status]` (data-reason when there is one),
  `#cancel-form` / `#cancel-button` (hidden unless cancellable), `#live-status` (data-state:
  connecting, live, reconnecting), `#page-error`;
- my orders `/my-orders`: `#signin-email`, `#signin-button`, `#my-orders` (rows data-order-id),
  `#signout-button`.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify, redirect, render_template, request, session, url_for
from werkzeug.exceptions import NotFound
from werkzeug.routing import WebsocketMismatch

from messaging.database import make_engine
from messaging.http_input import json_body
from messaging.problems import PROBLEM_CONTENT_TYPE, Problem, ProblemTable, ProblemType, problem_response
from messaging.settings import Role
from messaging.web import create_api, current_engine, extension
from order_service import catalog as catalog_copy
from order_service import db
from order_service.config import WebSettings, web_settings_from_env
from order_service.domain import MAX_QUANTITY, Availability, Order, OrderNotFound, OrderStatus, Step
from order_service.live import Fanout, StepListener, live
from order_service.signin import (
    InvalidSignInLink,
    SignInLinks,
    SignInMailer,
    normalized_email,
    valid_email,
)

log = logging.getLogger(__name__)

# POST /orders/{id}/cancel is accepted from CONFIRMED only (handlers._cancel); the page shows
# the button then, and the script hides or shows it as steps arrive.
CANCELLABLE = (OrderStatus.CONFIRMED,)
CARDS = (  # the payment service's test tokens (docs/api.md)
    ("tok_visa", "Card that pays"),
    ("tok_chargeDeclined", "Card that is declined"),
    ("tok_timeout", "Card whose bank answers too late"),
)
KIND_LABELS = {
    "placed": "Order placed",
    "reserved": "Stock reserved",
    "payment_pending": "Payment being confirmed",
    "confirmed": "Confirmed: paid",
    "shipped": "Shipped",
    "rejected": "Rejected",
    "failed": "Failed",
    "cancelled": "Cancelled: refunded",
}
FIELD_LABELS = {"email": "Email", "payment_token": "Card", "items": "Cart", "customer_id": "Customer"}
# The copy carries the inventory's word for its stock, not a count: the shop says it so.
AVAILABILITY_LABELS = {
    Availability.IN_STOCK: "In stock",
    Availability.LOW: "Low stock",
    Availability.OUT_OF_STOCK: "Out of stock",
}


def step_label(kind: str) -> str:
    """The timeline's words for a step (static/shop.js says the same for live ones)."""
    if kind in KIND_LABELS:
        return KIND_LABELS[kind]
    if kind.startswith("email."):
        return "Email sent: " + kind.removeprefix("email.").replace("_", " ")
    return kind.replace("_", " ")


def availability_label(availability: str) -> str:
    """A word a newer inventory may add is shown as it is."""
    return AVAILABILITY_LABELS.get(availability, availability.replace("_", " ").capitalize())


def reason_label(reason: str | None) -> str:
    return (reason or "").replace("_", " ")


def customer_id_for(email: str) -> str:
    """The storefront's shoppers have no account: one id per email address."""
    return "web-" + hashlib.sha256(email.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: dict[str, Any]


class ShopUnreachable(Exception):
    """The order API did not answer (refused, timed out)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service did not answer")
        self.service = service


class ShopClient:
    """The order API (place, cancel: the routes open to customers, no token), over HTTP with
    timeouts. No retries here: the browser retries a checkout with the same Idempotency-Key,
    which is what makes a retry safe."""

    def __init__(self, *, order_api_url: str, connect_timeout: float, read_timeout: float):
        self.order_api_url = order_api_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.http = requests.Session()

    def _call(self, service: str, method: str, url: str, **kwargs: Any) -> ApiAnswer:
        try:
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            log.warning("%s %s: %s", method, url, error)
            raise ShopUnreachable(service) from error
        try:
            body = response.json()
        except ValueError:
            body = {}
        return ApiAnswer(
            status=response.status_code, body=body if isinstance(body, dict) else {"items": body}
        )

    def place_order(self, *, idempotency_key: str, body: dict[str, Any]) -> ApiAnswer:
        return self._call(
            "order",
            "POST",
            f"{self.order_api_url}/orders",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )

    def cancel_order(self, *, order_id: str) -> ApiAnswer:
        return self._call("order", "POST", f"{self.order_api_url}/orders/{order_id}/cancel")


pages = Blueprint("pages", __name__)


def _shop() -> ShopClient:
    return extension("shop")


@pages.get("/")
def catalog():
    try:
        with current_engine().connect() as connection:
            products = catalog_copy.list_items(connection)
    except sa.exc.OperationalError:
        return render_template("unavailable.html", what="the catalog"), 503
    return render_template(
        "catalog.html",
        products=products,
        availability_label=availability_label,
        out_of_stock=Availability.OUT_OF_STOCK,
        max_quantity=MAX_QUANTITY,  # a line's most: the order API's
    )


@pages.get("/checkout")
def checkout_page():
    return render_template("checkout.html", cards=CARDS)


@pages.post("/checkout")
def checkout():
    """From the checkout page's script: {email, payment_token, items: [{sku, quantity,
    unit_price_cents}]} (the price each line was shown at, which the order API holds to the
    inventory's) and the Idempotency-Key it made for this cart, sent again unchanged on a retry or a double
    click, so the order API places one order. Answers {order_id, status, url} when an order
    exists (whatever its outcome: the order page tells it), else problem+json whose title
    the page shows as it is."""
    key = request.headers.get("Idempotency-Key", "")
    if not 1 <= len(key) <= 200:
        raise Problem(status=400, code="missing-idempotency-key", title="Reload the page and try again")
    body = json_body()
    email = normalized_email(str(body.get("email", "")))
    order_body = {
        "customer_id": customer_id_for(email),
        "email": email,
        "items": body.get("items"),
        "payment_token": body.get("payment_token"),
    }
    try:
        answer = _shop().place_order(idempotency_key=key, body=order_body)
    except ShopUnreachable as error:
        raise Problem(
            status=503,
            code="order-service-unreachable",
            title="The shop did not get an answer. Press Place order again: "
            "the same order is never placed twice.",
        ) from error
    order = answer.body.get("order") if answer.status == 503 else answer.body
    if isinstance(order, dict) and order.get("id"):
        placed = {
            "order_id": order["id"],
            "status": order.get("status"),
            "url": url_for("pages.order_page", order_id=order["id"]),
        }
        return jsonify(placed), answer.status  # 201, 202 (in flight), 503 (failed: a dependency down)
    return _readable_problem(answer)


def _readable_problem(answer: ApiAnswer) -> Any:
    """The order API's problem+json, with a title a customer can act on."""
    code = str(answer.body.get("code", "error"))
    errors = [
        {
            "field": str(each.get("field", "")),
            "message": f"{_field_label(str(each.get('field', '')))}: {each.get('message', '')}",
        }
        for each in answer.body.get("errors", []) or []
        if isinstance(each, dict)
    ]
    titles = {
        "validation-error": "Please check the order: " + "; ".join(error["message"] for error in errors),
        "idempotency-key-reused": "This checkout was already sent with other details. "
        "Press Place order to send it as a new order.",
        "inventory-unavailable": "The shop cannot reserve stock right now; nothing was charged. "
        "Try again in a moment.",
        "payment-unavailable": "The shop cannot take payments right now; nothing was charged. "
        "Try again in a moment.",
        "product-removed": "An item in your cart is no longer sold: remove it and place the order again.",
    }
    title = titles.get(
        code, "The order could not be placed. Try again: the same order is never placed twice."
    )
    problem = Problem(
        status=answer.status if answer.status >= 400 else 502, code=code, title=title, errors=errors
    )
    response = jsonify(problem.to_dict())
    response.status_code = problem.status
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _field_label(field: str) -> str:
    name = field.split("[", 1)[0].split(".", 1)[0]
    if name == "items" and "[" in field:
        index = field.split("[", 1)[1].split("]", 1)[0]
        line = int(index) + 1 if index.isdigit() else index
        return f"Cart line {line}"
    return FIELD_LABELS.get(name, field)


def _order_and_steps(order_id: str) -> tuple[Order, list[Step]]:
    with current_engine().connect() as connection:
        order = db.get_order(connection, order_id=order_id)
        return order, db.steps_of(connection, order_id=order_id)


def _render_order(order_id: str, *, error: str = "", status: int = 200) -> Any:
    try:
        order, steps = _order_and_steps(order_id)
    except OrderNotFound:
        return render_template("not_found.html", what="No order has this number."), 404
    return (
        render_template(
            "order.html",
            order=order,
            steps=steps,
            cancellable=[str(each) for each in CANCELLABLE],
            error=error,
            step_label=step_label,
            reason_label=reason_label,
            kind_labels=KIND_LABELS,
        ),
        status,
    )


@pages.get("/orders/<order_id>")
def order_page(order_id: str):
    return _render_order(order_id)


CANCEL_REFUSALS = {
    "order-already-shipped": "Too late to cancel: the parcel has left the warehouse.",
    "order-not-cancellable": "This order cannot be cancelled in its present state.",
}


@pages.post("/orders/<order_id>/cancel")
def cancel(order_id: str):
    try:
        answer = _shop().cancel_order(order_id=order_id)
    except ShopUnreachable:
        return _render_order(order_id, error="The shop did not get an answer: try again.", status=503)
    if answer.status == 200:
        return redirect(url_for("pages.order_page", order_id=order_id), code=303)
    if answer.status == 404:
        return render_template("not_found.html", what="No order has this number."), 404
    message = CANCEL_REFUSALS.get(
        str(answer.body.get("code")), "The order could not be cancelled now: try again."
    )
    return _render_order(order_id, error=message, status=answer.status if answer.status >= 400 else 502)


@pages.get("/my-orders")
def my_orders():
    email = session.get("email")
    if not email:
        return render_template("sign_in.html")
    with current_engine().connect() as connection:
        orders = db.orders_of_email(connection, email=email)
    return render_template("my_orders.html", email=email, orders=orders)


@pages.post("/my-orders/sign-in")
def ask_for_sign_in_link():
    """Sends the link to the address typed; says the same whether it has orders or not, so the
    page tells nobody which addresses have ordered."""
    email = normalized_email(request.form.get("email", ""))
    if not valid_email(email):
        return render_template("sign_in.html", email=email, error="Type a valid email address."), 422
    settings: WebSettings = extension("settings")
    links: SignInLinks = extension("sign_in_links")
    link = f"{settings.public_url}{url_for('pages.sign_in', token=links.token(email))}"
    try:
        extension("sign_in_mailer").send(to=email, link=link, minutes=int(links.max_age_seconds // 60))
    except (smtplib.SMTPException, OSError) as error:
        log.warning("sign-in link not sent: %s", error)
        return render_template(
            "sign_in.html", email=email, error="The email could not be sent now: try again."
        ), 503
    return render_template("sign_in_sent.html", email=email)


@pages.get("/my-orders/sign-in")
def sign_in():
    links: SignInLinks = extension("sign_in_links")
    try:
        email = links.email_of(request.args.get("token", ""))
    except InvalidSignInLink as invalid:
        error = (
            "This link has expired: ask for a new one."
            if invalid.expired
            else "This link is not valid: ask for a new one."
        )
        return render_template("sign_in.html", error=error), 400
    session.clear()
    session["email"] = email
    return redirect(url_for("pages.my_orders"), code=303)


@pages.post("/my-orders/sign-out")
def sign_out():
    session.clear()
    return redirect(url_for("pages.my_orders"), code=303)


PROBLEMS: ProblemTable = {
    OrderNotFound: ProblemType(404, "order-not-found", "No such order"),  # GET /ws/orders/{id}
}


def cooperative_database_driver() -> bool:
    """Under gevent's monkey patching (gunicorn -k gevent), psycopg2 waits for PostgreSQL in
    C, blocking every greenlet of the process: psycogreen makes it wait through gevent."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    if not monkey.is_module_patched("socket"):
        return False
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
    return True


def create_app(
    settings: WebSettings | None = None,
    *,
    engine: sa.Engine | None = None,
    mailer: Any = None,
    shop: ShopClient | None = None,
    listen: bool = True,
) -> Flask:
    """`settings`: from the environment when None (gunicorn calls `create_app()`); a test's
    own `engine`, `mailer` (anything with SignInMailer's `send`) and `shop`; `listen`: start the
    process's `order.step` listener (a test of the pages needs no broker)."""
    settings = settings or web_settings_from_env()
    cooperative_database_driver()
    engine = engine or make_engine(settings.database_url, pool_size=settings.pool_size(Role.WEB))
    fanout = Fanout()
    app = create_api(
        __name__,
        settings=settings,
        engine=engine,
        problems=PROBLEMS,
        blueprints=[pages, live],
        extensions={
            "fanout": fanout,
            "shop": shop
            or ShopClient(
                order_api_url=settings.order_api_url,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
            ),
            "sign_in_links": SignInLinks(
                secret=settings.secret_key, max_age_seconds=settings.sign_in_max_age_seconds
            ),
            "sign_in_mailer": mailer
            or SignInMailer(host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from),
        },
    )
    app.secret_key = settings.secret_key
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True)

    @app.errorhandler(WebsocketMismatch)
    def not_an_upgrade(error: WebsocketMismatch):  # a plain GET of /ws/orders/{id}
        return problem_response(
            Problem(status=426, code="websocket-required", title="This is a WebSocket: upgrade to it"),
            {"Upgrade": "websocket"},
        )

    @app.errorhandler(NotFound)
    def page_not_found(error: NotFound):  # a page, not problem+json: people type these URLs
        return render_template("not_found.html", what="There is no page here."), 404

    if listen:
        listener = StepListener(broker_url=settings.required_broker_url(), fanout=fanout)
        listener.start()
        app.extensions["listener"] = listener
    return app
