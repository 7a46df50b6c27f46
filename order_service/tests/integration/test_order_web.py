"""order-web as compose runs it (gunicorn, one gevent worker) against a throwaway PostgreSQL
and RabbitMQ: the catalog page shows the order database's copy of the catalog; the WebSocket
of an order's steps sends the steps so far, then live ones, with no gap and no duplicate;
`after=` resumes; an unknown order is refused before the upgrade; a socket that stops reading
is closed, and one that stops answering pings too."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import sys
import uuid
from datetime import UTC, datetime

import pika
import pytest
import requests
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from messaging.envelope import new_event
from messaging.topology import EVENTS_EXCHANGE
from order_service import db
from order_service.tests.integration.support import copy_product
from testsupport.containers import free_port
from testsupport.polling import wait_until
from testsupport.processes import running

PING_SECONDS = 2.0
QUEUE_LIMIT = 32


@pytest.fixture(scope="module")
def web(rabbitmq_server, postgres_server, tmp_path_factory):
    """order-web's URL (http), its engine, and its log."""
    from messaging.database import make_engine, upgrade_to_head
    from messaging.migrate import service_dir

    name = f"it_web_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = f"{postgres_server}/{name}"
    upgrade_to_head(service_dir=service_dir("order_service"), database_url=url)
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": url,
        "BROKER_URL": rabbitmq_server.user_url("order"),  # the order service's user, as compose
        "ORDER_WEB_SECRET": "test-secret",
        "PROCESS_NAME": "order-web",
        "WS_PING_SECONDS": str(PING_SECONDS),
        "WS_QUEUE_LIMIT": str(QUEUE_LIMIT),
    }
    command = [
        sys.executable, "-m", "gunicorn", "-c", "infra/gunicorn.conf.py", "-k", "gevent",
        "--worker-connections", "2000", "-b", f"127.0.0.1:{port}", "order_service.storefront:create_app()",
    ]  # fmt: skip
    log_path = tmp_path_factory.mktemp("order-web") / "order-web.log"
    engine = make_engine(url, pool_size=2)
    with running(command, env=env, log_path=log_path):
        base = f"127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"http://{base}/readyz", timeout=1).ok, timeout=30, what="order-web")
        wait_until(lambda: "queue amq.gen-" in log_path.read_text(), timeout=30, what="the listener's queue")
        yield {"base": base, "engine": engine, "log": log_path, "broker": rabbitmq_server}
    engine.dispose()


def new_order(engine) -> str:
    order_id = str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(
            db.orders.insert().values(
                id=order_id, customer_id="c-1", email="ada@example.test", status="PENDING", items=[],
                currency="EUR", payment_token="tok_visa",
            )
        )  # fmt: skip
    return order_id


def step_data(order_id: str, seq: int) -> dict:
    return {
        "order_id": order_id, "seq": seq, "kind": "placed" if seq == 1 else f"email.step_{seq}",
        "status": "PENDING", "at": datetime(2026, 1, 15, tzinfo=UTC).isoformat(),
    }  # fmt: skip


def record(engine, order_id: str, seqs) -> None:
    with engine.begin() as connection:
        connection.execute(
            db.order_steps.insert(),
            [step_data(order_id, seq) | {"at": datetime(2026, 1, 15, tzinfo=UTC)} for seq in seqs],
        )


def publish(broker, order_id: str, seqs) -> None:
    """`order.step` events as the order relay sends them (without confirms: a test's burst)."""
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    for seq in seqs:
        data = step_data(order_id, seq)
        event = new_event(type="order.step", source="order_service", subject=order_id, data=data)
        channel.basic_publish(EVENTS_EXCHANGE, "order.step", event.to_json())
    connection.close()


def received(ws, count: int) -> list[int]:
    return [json.loads(ws.recv(timeout=10))["seq"] for _ in range(count)]


def nothing_more(ws, seconds: float = 1.0) -> bool:
    try:
        ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    return False


def test_the_catalog_shows_the_copy_s_products_on_sale_with_their_stock_in_words(web):
    copy_product(web["engine"], "WEB-MUG", price_cents=1250)
    copy_product(web["engine"], "WEB-CUP", availability="low")
    copy_product(web["engine"], "WEB-JUG", availability="out_of_stock")
    copy_product(web["engine"], "WEB-GONE", removed=True)

    response = requests.get(f"http://{web['base']}/", timeout=5)

    page = response.text
    assert response.status_code == 200 and "WEB-GONE" not in page
    assert re.search(r'id="stock-WEB-MUG" data-availability="in_stock">In stock<', page)
    assert re.search(r'id="stock-WEB-CUP" data-availability="low">Low stock<', page)
    assert re.search(r'id="stock-WEB-JUG" data-availability="out_of_stock">Out of stock<', page)
    assert re.search(r'id="add-WEB-MUG"[^>]*data-price-cents="1250" data-max-quantity="1000"\s*>', page)
    assert re.search(r'id="add-WEB-JUG"[^>]*disabled', page)  # out of stock: nothing to add
    assert "12.50 €" in page and not re.search(r'(src|href)="(https?:)?//', page)


def test_the_steps_so_far_then_live_ones_each_once_in_order(web):
    order_id = new_order(web["engine"])
    record(web["engine"], order_id, [1, 2, 3])
    with connect(f"ws://{web['base']}/ws/orders/{order_id}") as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first == {"seq": 1, "status": "PENDING", "kind": "placed", "at": "2026-01-15T00:00:00+00:00"}
        assert received(ws, 2) == [2, 3]

        record(web["engine"], order_id, [4, 5])
        publish(web["broker"], order_id, [3, 5, 4, 5])  # an old one, out of order, twice

        assert received(ws, 2) == [4, 5]
        assert nothing_more(ws)


def test_after_resumes_past_the_steps_already_seen(web):
    order_id = new_order(web["engine"])
    record(web["engine"], order_id, [1, 2, 3, 4])
    with connect(f"ws://{web['base']}/ws/orders/{order_id}?after=2") as ws:
        assert received(ws, 2) == [3, 4]
        assert nothing_more(ws)


def test_a_gap_in_the_live_steps_is_filled_from_the_database(web):
    order_id = new_order(web["engine"])
    record(web["engine"], order_id, [1])
    with connect(f"ws://{web['base']}/ws/orders/{order_id}") as ws:
        assert received(ws, 1) == [1]
        record(web["engine"], order_id, [2, 3, 4])
        publish(web["broker"], order_id, [4])  # 2 and 3 lost on the way (or still to come)

        assert received(ws, 3) == [2, 3, 4]
        publish(web["broker"], order_id, [2, 3])
        assert nothing_more(ws)


def test_an_unknown_order_or_a_bad_after_is_refused_before_the_upgrade(web):
    with pytest.raises(InvalidStatus) as unknown:
        connect(f"ws://{web['base']}/ws/orders/{uuid.uuid4()}")
    with pytest.raises(InvalidStatus) as bad_after:
        connect(f"ws://{web['base']}/ws/orders/{uuid.uuid4()}?after=x")

    assert unknown.value.response.status_code == 404
    assert json.loads(unknown.value.response.body)["code"] == "order-not-found"
    assert bad_after.value.response.status_code == 400


def raw_socket(base: str, path: str, *, receive_buffer: int | None = None) -> socket.socket:
    """A WebSocket client that does nothing by itself (no reading, no pong)."""
    host, port = base.split(":")
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {base}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def every_step(base: str, order_id: str, count: int, *, once_open) -> list[int]:
    """What a page does: read, and when cut off, reconnect with after= the last step seen.
    `once_open` runs when the first connection is open (the steps are made then: live ones)."""
    seqs: list[int] = []
    for _ in range(20):
        try:
            # max_queue=None: read the socket as fast as it comes (the default stops at 16 unread)
            with connect(f"ws://{base}/ws/orders/{order_id}?after={len(seqs)}", max_queue=None) as ws:
                once_open()
                once_open = lambda: None  # noqa: E731
                while len(seqs) < count:
                    seqs.append(json.loads(ws.recv(timeout=10))["seq"])
                return seqs
        except ConnectionClosed:
            continue
    return seqs


def test_a_socket_that_stops_reading_is_closed_and_the_others_get_every_step(web):
    order_id = new_order(web["engine"])
    count = 3000  # ~350 KB of messages: more than the kernel's buffers and the mailbox hold
    slow = raw_socket(web["base"], f"/ws/orders/{order_id}", receive_buffer=4096)

    def make_steps():
        record(web["engine"], order_id, range(1, count + 1))
        publish(web["broker"], order_id, range(1, count + 1))

    assert every_step(web["base"], order_id, count, once_open=make_steps) == list(range(1, count + 1))
    wait_until(lambda: "a socket stopped reading" in web["log"].read_text(), timeout=10, what="the cut")
    got = read_until_closed(slow, timeout=5)  # the server ended it: EOF, not a timeout

    assert 0 < len(got) < count * 100
    slow.close()


def test_a_socket_that_answers_no_ping_is_closed(web):
    order_id = new_order(web["engine"])
    mute = raw_socket(web["base"], f"/ws/orders/{order_id}")

    frames = read_until_closed(mute, timeout=PING_SECONDS * 4)

    assert frames[:2] == b"\x89\x00"  # a ping, unanswered
    assert b"\x88" in frames and b"no pong" in frames  # then a close frame: 1001, no pong
    mute.close()


def test_an_idle_socket_that_answers_pings_stays_open(web):
    order_id = new_order(web["engine"])
    with connect(f"ws://{web['base']}/ws/orders/{order_id}") as ws:  # it answers pings by itself
        assert nothing_more(ws, seconds=PING_SECONDS * 2.5)
        record(web["engine"], order_id, [1])
        publish(web["broker"], order_id, [1])
        assert received(ws, 1) == [1]
