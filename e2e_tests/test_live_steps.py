"""The storefront's push, on the running stack: GET /ws/orders/{id} on order-web sends every
step of the order (from its timeline) then each live one (from RabbitMQ), with no gap and no
duplicate; `after=` resumes; two order-web replicas behind nginx each push what they hold."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import pytest
import requests
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from e2e_tests.stack import (
    ROOT,
    URLS,
    containers,
    is_healthy,
    new_sku,
    order_body,
    order_steps,
    post_order,
)
from testsupport.polling import wait_until

# Every step of an order paid with tok_visa, in the order they can come (emails may swap).
VISA_STEPS = {"placed", "reserved", "confirmed", "shipped", "email.order_confirmed", "email.order_shipped"}
REPLICAS = ("docker", "compose", "-f", "compose.yaml", "-f", "compose.web-replicas.yaml")
PROXY = "http://127.0.0.1:8088"
SERVICES = ("order-web", "order-web-2")


async def receive_steps(base: str, order_id: str, *, until: int, after: int | None = None) -> list[dict]:
    """Every message of the socket until `until` steps have come (or 30 s have passed)."""
    url = f"{base.replace('http://', 'ws://')}/ws/orders/{order_id}"
    url += f"?after={after}" if after is not None else ""
    messages: list[dict] = []
    async with connect(url, open_timeout=10) as socket:
        async with asyncio.timeout(30):
            while len(messages) < until:
                messages.append(json.loads(await socket.recv()))
    return messages


def placed_order(token: str = "tok_visa") -> str:
    response = post_order(order_body(sku=new_sku(available=10), token=token))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_new_watcher_gets_the_steps_so_far_then_the_live_ones_each_once():
    order_id = placed_order()  # answered CONFIRMED: placed, reserved, confirmed are history

    messages = asyncio.run(receive_steps(URLS.web, order_id, until=len(VISA_STEPS)))

    assert [message["seq"] for message in messages] == list(range(1, len(VISA_STEPS) + 1))
    assert {message["kind"] for message in messages} == VISA_STEPS
    assert messages[0]["kind"] == "placed" and messages[0]["status"] == "PENDING"
    assert [(m["seq"], m["kind"], m["status"]) for m in messages] == order_steps(order_id)
    assert all(message["at"] for message in messages)


def test_after_resumes_past_the_steps_already_seen():
    order_id = placed_order()
    wait_until(lambda: len(order_steps(order_id)) == len(VISA_STEPS), timeout=30, what="every step")

    rest = asyncio.run(receive_steps(URLS.web, order_id, until=2, after=4))
    assert [message["seq"] for message in rest] == [5, 6]
    with pytest.raises(TimeoutError):  # nothing after the last step: the socket stays quiet
        asyncio.run(asyncio.wait_for(receive_steps(URLS.web, order_id, until=1, after=6), timeout=2))


def test_a_declined_order_ends_failed_with_its_reason():
    order_id = placed_order(token="tok_chargeDeclined")
    messages = asyncio.run(receive_steps(URLS.web, order_id, until=4))
    assert [m["kind"] for m in messages[:3]] == ["placed", "reserved", "failed"]
    assert (messages[2]["status"], messages[2]["reason"]) == ("FAILED", "payment_declined")
    assert messages[3]["kind"] == "email.order_failed"


@pytest.mark.parametrize(
    ("path", "status"), [("/ws/orders/no-such-order", 404), ("/ws/orders/{id}?after=x", 400)]
)
def test_a_socket_that_cannot_be_served_is_refused_before_the_upgrade(path, status):
    url = URLS.web.replace("http://", "ws://") + path.format(id=placed_order())

    async def open_socket() -> None:
        async with connect(url, open_timeout=10):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(open_socket())
    assert refused.value.response.status_code == status


@pytest.fixture
def two_replicas():
    """order-web-2 and nginx in front of both replicas (compose.web-replicas.yaml), then gone."""
    subprocess.run([*REPLICAS, "up", "-d", "order-web-2", "web-proxy"], cwd=ROOT, check=True)
    try:
        wait_until(lambda: _answers(f"{PROXY}/healthz"), timeout=120, what="the proxy and both replicas")
        yield PROXY
    finally:
        subprocess.run([*REPLICAS, "rm", "-sf", "order-web-2", "web-proxy"], cwd=ROOT, check=True)
        # order-web as compose.yaml has it again (the override gave it the proxy's address for links).
        subprocess.run(["docker", "compose", "up", "-d", "order-web"], cwd=ROOT, check=True)
        wait_until(lambda: is_healthy("order-web"), timeout=120, what="order-web as compose.yaml has it")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).status_code == 200
    except requests.RequestException:
        return False


def open_sockets(service: str) -> int:
    """WebSockets (established TCP connections to port 8000) the replica holds now."""
    [container] = containers(service)
    table = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"]).output.decode()
    rows = [
        line.split() for line in table.splitlines() if line.strip() and not line.lstrip().startswith("sl")
    ]
    return sum(
        1 for row in rows if row[1].endswith(":1F40") and row[3] == "01"
    )  # 0x1F40 = 8000, 01 = ESTABLISHED


def test_two_replicas_behind_nginx_each_push_the_steps_of_the_sockets_they_hold(two_replicas):
    orders = [placed_order() for _ in range(6)]

    async def watch_all() -> tuple[list[list[dict]], dict[str, int]]:
        watchers = [
            asyncio.create_task(receive_steps(two_replicas, order_id, until=len(VISA_STEPS)))
            for order_id in orders
        ]
        held: dict[str, int] = {}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # where the sockets landed, once they are all open
            held = {service: await asyncio.to_thread(open_sockets, service) for service in SERVICES}
            if sum(held.values()) >= len(orders):
                break
            await asyncio.sleep(0.2)
        return await asyncio.gather(*watchers), held

    results, held = asyncio.run(watch_all())

    assert sum(held.values()) >= len(orders) and all(held.values()), held  # nginx spread them over both
    for order_id, messages in zip(orders, results, strict=True):
        assert [(m["seq"], m["kind"], m["status"]) for m in messages] == order_steps(order_id)
        assert {m["kind"] for m in messages} == VISA_STEPS
