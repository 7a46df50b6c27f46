"""The storefront in a real browser (headless Debian chromium, driven by Playwright): a shopper
adds a product, checks out and watches the order move without reloading; a declined card;
order-web restarted under an open order page; a double click and a lost answer at checkout;
"my orders" behind a sign-in link sent by email.

STOREFRONT_SCREENSHOT=<path> saves the live order page there (the README's picture).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from e2e_tests.stack import (
    URLS,
    containers,
    database_url,
    emails_to,
    in_catalog_copy,
    is_healthy,
    new_sku,
    order_steps,
    product,
)
from testsupport.polling import wait_until

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it): no browser download here
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
STEP_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE)  # a phone's width: the page must work there
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    yield page
    context.close()


def new_email() -> str:
    return f"shopper-{uuid.uuid4().hex[:10]}@example.test"


def fill_checkout(page: Page, *, sku: str, email: str, card: str) -> None:
    in_catalog_copy(sku)  # the catalog page shows the order service's copy, a moment behind
    page.goto(URLS.web + "/")
    expect(page.locator(f"#stock-{sku}")).to_have_text(re.compile("^(In stock|Low stock)$"))  # no count
    page.click(f"#add-{sku}")
    expect(page.locator("#cart")).to_have_attribute("data-count", "1")
    page.click("#go-to-checkout")
    page.fill("#email", email)
    page.check(f"#card-{card}")


def order_id_of(page: Page) -> str:
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def timeline(page: Page) -> list[tuple[int, str, str]]:
    entries = page.locator("#timeline li")
    return [
        (
            int(entry.get_attribute("data-seq")),
            entry.get_attribute("data-kind"),
            entry.get_attribute("data-status"),
        )
        for entry in entries.all()
    ]


def orders_of(email: str) -> list[str]:
    engine = sa.create_engine(database_url("order_service"), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text("SELECT id FROM orders WHERE email = :email"), {"email": email}
            ).scalars()
        )


def expect_step(page: Page, kind: str) -> None:
    expect(page.locator(f'#timeline li[data-kind="{kind}"]')).to_have_count(1, timeout=STEP_TIMEOUT_MS)


def test_a_shopper_checks_out_and_sees_the_order_confirmed_then_shipped_without_reloading(
    page: Page, tmp_path
):
    sku = new_sku(available=5, price_cents=1500)
    fill_checkout(page, sku=sku, email=new_email(), card="tok_visa")
    with page.expect_request(lambda request: request.method == "POST" and "/checkout" in request.url) as sent:
        page.click("#checkout-button")
    order_id = order_id_of(page)
    # Each line goes with the price the page showed, which the order API holds to the inventory's.
    assert sent.value.post_data_json["items"] == [{"sku": sku, "quantity": 1, "unit_price_cents": 1500}]
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded

    expect_step(page, "confirmed")
    expect_step(page, "shipped")
    expect_step(page, "email.order_shipped")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "SHIPPED")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    assert page.evaluate("window.loadedOnce") is True
    assert timeline(page) == order_steps(order_id)
    kinds = [kind for _, kind, _ in timeline(page)]
    assert kinds[:3] == ["placed", "reserved", "confirmed"]
    assert set(kinds) == {
        "placed",
        "reserved",
        "confirmed",
        "shipped",
        "email.order_confirmed",
        "email.order_shipped",
    }
    assert product(sku)["available"] == 4
    screenshot = Path(os.environ.get("STOREFRONT_SCREENSHOT") or tmp_path / "order.png")
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_a_declined_card_shows_failed_with_the_reason_and_the_stock_comes_back(page: Page):
    sku = new_sku(available=3)
    fill_checkout(page, sku=sku, email=new_email(), card="tok_chargeDeclined")
    page.click("#checkout-button")
    order_id_of(page)

    expect(page.locator('#timeline li[data-kind="failed"]')).to_have_attribute(
        "data-reason", "payment_declined"
    )
    expect(page.locator("#order-status")).to_have_attribute("data-status", "FAILED")
    expect(page.locator("#cancel-button")).to_be_hidden()
    wait_until(lambda: product(sku)["available"] == 3, timeout=30, what="the reservation released")


def test_the_page_outlives_a_restart_of_order_web_and_shows_each_step_once(page: Page):
    sku = new_sku(available=5)
    fill_checkout(page, sku=sku, email=new_email(), card="tok_visa")
    page.click("#checkout-button")
    order_id = order_id_of(page)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    [web] = containers("order-web")
    web.restart(timeout=5)  # the warehouse ships it 2 s after CONFIRMED: meanwhile, most likely

    expect_step(page, "shipped")
    expect_step(page, "email.order_shipped")
    expect_step(page, "email.order_confirmed")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    steps = timeline(page)
    assert [seq for seq, _, _ in steps] == list(range(1, len(steps) + 1))
    assert steps == order_steps(order_id)
    wait_until(lambda: is_healthy("order-web"), timeout=60, what="order-web healthy again")


def test_a_double_click_at_checkout_places_one_order(page: Page):
    email = new_email()
    fill_checkout(page, sku=new_sku(available=5), email=email, card="tok_visa")
    page.dblclick("#checkout-button")
    order_id = order_id_of(page)

    assert orders_of(email) == [order_id]


def test_a_checkout_retried_after_its_answer_was_lost_places_one_order(page: Page):
    email = new_email()
    fill_checkout(page, sku=new_sku(available=5), email=email, card="tok_visa")
    lost = []

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method == "POST" and not lost:
            lost.append(route.fetch())  # order-web places the order ...
            route.abort("connectionreset")  # ... and its answer never reaches the page
        else:
            route.continue_()

    page.route("**/checkout", lose_the_first_answer)
    page.click("#checkout-button")
    expect(page.locator("#checkout-error")).not_to_be_empty()
    assert len(orders_of(email)) == 1 and lost[0].status in (200, 201)

    page.click("#checkout-button")  # the shopper tries again: the same key
    order_id = order_id_of(page)
    assert orders_of(email) == [order_id]


def test_my_orders_lists_nothing_until_the_emailed_link_is_followed(page: Page, browser: Browser):
    email, someone_else = new_email(), new_email()
    mine, theirs = [], []
    for address, placed in ((email, mine), (someone_else, theirs)):
        fill_checkout(page, sku=new_sku(available=5), email=address, card="tok_visa")
        page.click("#checkout-button")
        placed.append(order_id_of(page))

    stranger = browser.new_context().new_page()  # another browser: no session
    stranger.goto(URLS.web + "/my-orders")
    expect(stranger.locator("#my-orders")).to_have_count(0)
    stranger.fill("#signin-email", email)
    stranger.click("#signin-button")
    wait_until(lambda: emails_to(email) and _sign_in_link(email), timeout=30, what="the sign-in email")
    assert not stranger.locator("#my-orders").count()  # asking is not signing in

    stranger.goto(_sign_in_link(email))
    rows = stranger.locator("#my-orders tr[data-order-id]")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-order-id") == mine[0] != theirs[0]
    stranger.context.close()


def _sign_in_link(email: str) -> str | None:
    for message in emails_to(email):
        text = message.get("text") or message.get("html") or ""
        if found := re.search(r"https?://\S+/my-orders/sign-in\?token=[\w.\-]+", text):
            return found.group(0)
    return None
