"""Dead letters you can act on (issue 13), on the running stack: an order.confirmed the
warehouse cannot handle for a reason that lasts (its database refuses the shipment: a trigger
the test adds as the superuser, keyed on the test's own customer email, nothing in the code)
dies after the delivery limit, is listed by GET /dead-letters, and once the reason is gone a
replay ships the order exactly once and empties it from the dead letters. A malformed message
stays dead: its replay is refused, and it is never looped."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pika
import requests
import sqlalchemy as sa

from e2e_tests.stack import (
    URLS,
    admin_headers,
    amqp_url,
    database_url,
    new_sku,
    notifications,
    order,
    order_body,
    post_order,
    shipments,
)
from testsupport.polling import wait_until

QUEUE = "warehouse.orders"
DEAD = "warehouse.orders.dead-letter"
# 10 deliveries with the consumer's backoff (0.5 s doubling to 15 s): about 90 s, and slack.
DELIVERY_LIMIT_SECONDS = 240
# Prometheus scrapes RabbitMQ's per-queue figures and evaluates the rules every 15 s.
ALERT_SECONDS = 90


def dead_letters_alert() -> str | None:
    """DeadLettersWaiting's state for the warehouse's dead letters (None: not active)."""
    alerts = requests.get(f"{URLS.prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    for alert in alerts:
        if alert["labels"].get("alertname") == "DeadLettersWaiting" and alert["labels"].get("queue") == DEAD:
            return alert["state"]
    return None


def warehouse_db() -> sa.Engine:
    return sa.create_engine(database_url("warehouse_service"), poolclass=sa.pool.NullPool)


@contextmanager
def shipments_refused_for(email: str) -> Iterator[None]:
    """The warehouse's database refuses to store a shipment to `email` until the block ends: a
    failure the consumer retries (not poison) and that lasts past the delivery limit."""
    name = f"e2e_refuse_{uuid.uuid4().hex[:12]}"
    literal = email.replace("'", "''")  # the test's own address; a trigger's WHEN takes no parameters
    engine = warehouse_db()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION 'e2e: shipments to this address are refused'; END $$"
            )
        )
        connection.execute(
            sa.text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON shipments FOR EACH ROW "
                f"WHEN (NEW.email = '{literal}') EXECUTE FUNCTION {name}()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON shipments"))
            connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {name}()"))
        engine.dispose()


def dead_letters() -> list[dict]:
    response = requests.get(
        f"{URLS.warehouse}/dead-letters",
        params={"queue": DEAD, "limit": 500},
        headers=admin_headers(),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def dead_letter_of(order_id: str) -> dict | None:
    found = [
        letter
        for letter in dead_letters()
        if isinstance(letter["body"], dict) and letter["body"].get("subject") == order_id
    ]
    return found[0] if found else None


def replay(body: dict) -> requests.Response:
    return requests.post(
        f"{URLS.warehouse}/dead-letters/replay", json=body, headers=admin_headers(), timeout=60
    )


def handled_times(event_id: str) -> int:
    engine = warehouse_db()
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT count(*) FROM inbox WHERE message_id = :id")
            return connection.execute(query, {"id": event_id}).scalar_one()
    finally:
        engine.dispose()


def test_an_event_dead_from_a_lasting_failure_is_replayed_and_handled_exactly_once():
    body = order_body(sku=new_sku(available=5))
    with shipments_refused_for(body["email"]):
        placed = post_order(body)
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        letter = wait_until(
            lambda: dead_letter_of(order_id),
            timeout=DELIVERY_LIMIT_SECONDS,
            interval=3,
            what="the order.confirmed in the warehouse's dead letters",
        )
        assert (letter["type"], letter["reason"], letter["replayable"]) == (
            "order.confirmed",
            "delivery_limit",
            True,
        )
        assert letter["death_count"] >= 1 and letter["first_death_at"]
        assert shipments(order_id) == [] and handled_times(letter["event_id"]) == 0
        wait_until(
            lambda: dead_letters_alert() == "firing", timeout=ALERT_SECONDS, what="DeadLettersWaiting to fire"
        )
    # The reason is gone: the trigger is dropped.

    done = replay({"queue": DEAD, "event_id": letter["event_id"]})

    assert done.status_code == 200, done.text
    assert done.json()["replayed"] == [letter["event_id"]]
    wait_until(lambda: order(order_id)["status"] == "SHIPPED", timeout=90, what=f"{order_id} SHIPPED")
    assert len(shipments(order_id)) == 1
    assert handled_times(letter["event_id"]) == 1
    assert dead_letter_of(order_id) is None  # gone from the dead letters
    assert replay({"queue": DEAD, "event_id": letter["event_id"]}).status_code == 404
    wait_until(
        lambda: dead_letters_alert() is None, timeout=ALERT_SECONDS, what="DeadLettersWaiting to resolve"
    )
    wait_until(lambda: len(notifications(order_id)) == 2, timeout=60, what="confirmed and shipped emails")
    assert sorted(n["kind"] for n in notifications(order_id)) == ["order_confirmed", "order_shipped"]


def publish_malformed(message_id: str) -> None:
    """A message the warehouse's consumer rejects at once (not an event envelope), put straight
    into its queue with the administrator's credentials, as a broken producer would."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            message_id=message_id, type="order.confirmed", content_type="application/json", delivery_mode=2
        )
        channel.basic_publish("", QUEUE, json.dumps({"hello": "e2e"}).encode(), properties, mandatory=True)
    finally:
        connection.close()


def remove_dead_letter(message_id: str) -> None:
    """Takes the test's own message out of the dead letters; any other is left there."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
    try:
        channel = connection.channel()
        while True:
            method, properties, _ = channel.basic_get(DEAD, auto_ack=False)
            if method is None:
                break
            if properties.message_id == message_id:
                channel.basic_ack(method.delivery_tag)
    finally:
        connection.close()  # every other message goes back


def test_a_malformed_event_stays_dead_and_is_never_looped():
    message_id = f"e2e-malformed-{uuid.uuid4()}"
    publish_malformed(message_id)
    try:

        def listed() -> dict | None:
            return next((letter for letter in dead_letters() if letter["event_id"] == message_id), None)

        letter = wait_until(listed, timeout=60, what="the malformed message dead-lettered")
        assert (letter["reason"], letter["replayable"]) == ("rejected", False)

        refused = replay({"queue": DEAD, "event_id": message_id})
        assert (refused.status_code, refused.json()["code"]) == (409, "not-replayable")
        every = replay({"queue": DEAD})
        assert every.status_code == 200, every.text
        assert message_id in [kept["event_id"] for kept in every.json()["kept"]]
        assert message_id not in every.json()["replayed"]
        assert listed()["death_count"] == 1  # still there, and it never went round again
    finally:
        remove_dead_letter(message_id)
