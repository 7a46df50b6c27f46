"""Dead letters made on purpose in a throwaway broker (the administrator's URL), as a consumer
makes them: a message put into a service's queue dies there after the delivery limit (the
consumer's retries) or at once (rejected: malformed or poison). And what a queue holds."""

from __future__ import annotations

from typing import Any

import pika

from messaging.topology import DEAD_LETTER_SOURCES, DELIVERY_LIMIT
from testsupport.polling import wait_until


def dead_letter(
    admin_url: str,
    dead_letter_queue: str,
    *,
    message_id: str,
    body: bytes,
    event_type: str = "order.confirmed",
    reason: str = "delivery_limit",
) -> None:
    """Returns once the message is in `dead_letter_queue`, having died in its source queue."""
    queue = DEAD_LETTER_SOURCES[dead_letter_queue].name
    with pika.BlockingConnection(pika.URLParameters(admin_url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            message_id=message_id,
            type=event_type,
            content_type="application/json",
            delivery_mode=2,
            headers={"traceparent": "00-kept"},
        )
        channel.basic_publish("", queue, body, properties)
        for _ in range(DELIVERY_LIMIT + 2):
            method, _, _ = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            if reason == "rejected":
                channel.basic_reject(method.delivery_tag, requeue=False)
                break
            channel.basic_nack(method.delivery_tag, requeue=True)  # the consumer's retry
    wait_until(
        lambda: message_id in ids_in(admin_url, dead_letter_queue),
        timeout=20,
        what=f"{message_id} in {dead_letter_queue}",
    )


def ids_in(admin_url: str, queue: str) -> list[str]:
    """The message ids in `queue`, each left there (got without an ack, back at the close)."""
    return [properties.message_id for properties, _ in _got(admin_url, queue, remove=False)]


def take_all(admin_url: str, queue: str) -> list[tuple[pika.BasicProperties, bytes]]:
    """Removes every message from `queue`: (properties, body) of each."""
    return _got(admin_url, queue, remove=True)


def _got(admin_url: str, queue: str, *, remove: bool) -> list[tuple[pika.BasicProperties, bytes]]:
    with pika.BlockingConnection(pika.URLParameters(admin_url)) as connection:
        channel = connection.channel()
        got = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=remove)
            if method is None:
                return got
            got.append((properties, body))


def purge(admin_url: str, *queues: str) -> None:
    """Empties queues that other tests of the session may have left messages in."""
    with pika.BlockingConnection(pika.URLParameters(admin_url)) as connection:
        channel = connection.channel()
        for queue in queues:
            channel.queue_purge(queue)


def reach_every_documented_status(app: Any, admin_url: str, dead_letter_queue: str) -> None:
    """Each status of a service's GET /dead-letters and POST /dead-letters/replay reached on
    purpose and checked against its document (testsupport.openapi_fuzz.conforms); `app` is
    built with callers=TEST_CALLERS and BROKER_URL=the service's user on this broker."""
    from messaging.credentials import ADMIN
    from testsupport.callers import bearer
    from testsupport.events import example_envelope
    from testsupport.openapi_fuzz import conforms

    admin = bearer(ADMIN)
    purge(admin_url, DEAD_LETTER_SOURCES[dead_letter_queue].name, dead_letter_queue)
    event = example_envelope("order.confirmed")
    dead_letter(admin_url, dead_letter_queue, message_id=event.id, body=event.to_json())
    dead_letter(admin_url, dead_letter_queue, message_id="malformed", body=b"{not json", reason="rejected")
    replay = "/dead-letters/replay"

    listed = conforms(app, "GET", "/dead-letters", headers=admin, query={"queue": dead_letter_queue}).json()
    assert sorted(letter["event_id"] for letter in listed) == sorted([event.id, "malformed"])
    assert conforms(app, "GET", "/dead-letters", headers=admin, query={"limit": 0}).status_code == 400
    assert conforms(app, "GET", "/dead-letters", headers=admin, query={"queue": "x"}).status_code == 422
    one = {"queue": dead_letter_queue, "event_id": event.id}
    assert conforms(app, "POST", replay, headers=admin, body=one).json()["replayed"] == [event.id]
    assert conforms(app, "POST", replay, headers=admin, body=one).status_code == 404
    malformed = {"queue": dead_letter_queue, "event_id": "malformed"}
    assert conforms(app, "POST", replay, headers=admin, body=malformed).status_code == 409
    every = conforms(app, "POST", replay, headers=admin, body={"queue": dead_letter_queue}).json()
    assert (every["replayed"], [kept["event_id"] for kept in every["kept"]]) == ([], ["malformed"])
    assert conforms(app, "POST", replay, headers=admin, body={"queue": 1}).status_code == 422
    assert conforms(app, "POST", replay, headers=admin, body=[1]).status_code == 400
    too_large = {"queue": dead_letter_queue, "event_id": "x" * 70_000}
    assert conforms(app, "POST", replay, headers=admin, body=too_large).status_code == 413
    purge(admin_url, DEAD_LETTER_SOURCES[dead_letter_queue].name, dead_letter_queue)


UNREACHABLE_BROKER = "amqp://nobody:nothing@127.0.0.1:1/%2F"


def broker_down_is_a_documented_503(app: Any, dead_letter_queue: str) -> None:
    """Both operations of an app built with BROKER_URL=UNREACHABLE_BROKER answer the
    documented 503."""
    from messaging.credentials import ADMIN
    from testsupport.callers import bearer
    from testsupport.openapi_fuzz import conforms

    admin = bearer(ADMIN)
    assert conforms(app, "GET", "/dead-letters", unavailable=True, headers=admin).status_code == 503
    body = {"queue": dead_letter_queue}
    answer = conforms(app, "POST", "/dead-letters/replay", unavailable=True, headers=admin, body=body)
    assert answer.status_code == 503
