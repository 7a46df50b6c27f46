"""The guard on the running stack: the internal and operator endpoints refuse the public and
the wrong caller, with the tokens compose gave the services (stack.credential)."""

from __future__ import annotations

import uuid

import requests

from e2e_tests.stack import TIMEOUT, URLS, admin_headers, credential, new_sku, order_body, post_order

ORDER_SERVICE = {"Authorization": f"Bearer {credential('ORDER_SERVICE_TOKEN')}"}
UNKNOWN = {"Authorization": "Bearer not-a-token-of-this-stack"}


def status_and_code(response: requests.Response) -> tuple[int, str | None]:
    body = response.json() if response.content else {}
    return response.status_code, body.get("code") if isinstance(body, dict) else None


def test_internal_endpoints_refuse_the_public_and_the_operator():
    order_id = f"e2e-guard-{uuid.uuid4()}"
    calls = {
        "reserve": ("POST", f"{URLS.inventory}/reservations", {"Idempotency-Key": f"reserve:{order_id}"}),
        "commit": ("POST", f"{URLS.inventory}/reservations/{order_id}/commit", {}),
        "charge": ("POST", f"{URLS.payment}/charges", {"Idempotency-Key": f"charge:{order_id}"}),
        "refund": ("POST", f"{URLS.payment}/refunds", {"Idempotency-Key": f"refund:{order_id}"}),
        "cancel": (
            "POST",
            f"{URLS.warehouse}/shipments/{order_id}/cancel",
            {"Idempotency-Key": f"cancel:{order_id}"},
        ),
        "warehouse events": ("POST", f"{URLS.warehouse}/events", {}),
        "notification events": ("POST", f"{URLS.notification}/events", {}),
    }
    for name, (method, url, headers) in calls.items():
        nobody = requests.request(method, url, json={}, headers=headers, timeout=TIMEOUT)
        unknown = requests.request(method, url, json={}, headers={**headers, **UNKNOWN}, timeout=TIMEOUT)
        operator = requests.request(
            method, url, json={}, headers={**headers, **admin_headers()}, timeout=TIMEOUT
        )

        assert status_and_code(nobody) == (401, "unauthenticated"), name
        assert nobody.headers["WWW-Authenticate"].startswith("Bearer"), name
        assert status_and_code(unknown) == (401, "unauthenticated"), name
        assert status_and_code(operator) == (403, "forbidden"), name


def test_operator_endpoints_refuse_the_public_and_the_order_service():
    sku = f"E2E-GUARD-{uuid.uuid4().hex[:8]}"
    product = {"name": "Guarded mug", "price_cents": 100, "available": 1}
    put = f"{URLS.inventory}/products/{sku}"

    assert status_and_code(requests.put(put, json=product, timeout=TIMEOUT)) == (401, "unauthenticated")
    assert status_and_code(requests.put(put, json=product, headers=ORDER_SERVICE, timeout=TIMEOUT)) == (
        403,
        "forbidden",
    )
    assert (
        requests.get(f"{URLS.inventory}/products/{sku}", timeout=TIMEOUT).status_code == 404
    )  # never written
    for url in (
        f"{URLS.order}/orders",
        f"{URLS.payment}/payments",
        f"{URLS.warehouse}/shipments",
        f"{URLS.notification}/notifications",
    ):
        assert status_and_code(requests.get(url, timeout=TIMEOUT)) == (401, "unauthenticated"), url
        assert status_and_code(requests.get(url, headers=ORDER_SERVICE, timeout=TIMEOUT)) == (
            403,
            "forbidden",
        ), url
        assert requests.get(url, headers=admin_headers(), timeout=TIMEOUT).status_code == 200, url


def test_the_order_service_presents_its_own_token_and_reads_of_one_order_stay_open():
    placed = post_order(order_body(sku=new_sku(available=1)))  # reserve, charge, commit: all guarded

    assert placed.status_code == 201 and placed.json()["status"] == "CONFIRMED", placed.text
    order_id = placed.json()["id"]
    for url in (
        f"{URLS.order}/orders/{order_id}",
        f"{URLS.order}/orders/{order_id}/events",
        f"{URLS.inventory}/reservations/{order_id}",
        f"{URLS.payment}/payments?order_id={order_id}",
        f"{URLS.warehouse}/shipments?order_id={order_id}",
        f"{URLS.notification}/notifications?order_id={order_id}",
    ):
        assert requests.get(url, timeout=TIMEOUT).status_code == 200, url
