"""Fault 8: duplicate and poison messages published straight into the `events` exchange.

Duplicates are the run's own events taken from the order and warehouse outboxes (read-only),
re-published with the same message id (a redelivery), and with a new id but the same data (a
producer that said the same thing twice): neither has a second effect (the shipment, email
and charge invariants). Poison messages (not JSON, not an envelope, an envelope whose data
fails validation, a shipment for an order that does not exist) end in the dead-letter queue
of every queue they were routed to, at once, and the queues keep flowing.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from e2e_tests.chaos import faults
from messaging import topology

INJECTIONS = 5


def dead_letter_queues(routing_key: str) -> set[str]:
    """The dead-letter queues of every queue a message with this routing key is routed to."""
    return {
        spec.dead_letter_name for spec in topology.EVENT_QUEUES.values() if routing_key in spec.routing_keys
    }


def _properties(envelope: dict, *, message_id: str | None = None) -> dict:
    return {
        "message_id": message_id or envelope["id"],
        "type": envelope["type"],
        "content_type": "application/json",
        "correlation_id": envelope.get("correlationid"),
        "app_id": envelope.get("source"),
    }


def _envelope(event_type: str, data: dict, *, event_id: str) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": event_type,
        "source": "chaos-tests",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "dataversion": 1,
        "data": data,
    }


def _poison(run_id: str, number: int, kind: str) -> tuple[str, bytes, dict]:
    """One poison message of `kind`: (routing key, body, AMQP properties)."""
    message_id = f"chaos-poison-{run_id}-{number}-{kind}"
    json_props = {"message_id": message_id, "content_type": "application/json"}
    if kind == "not-json":
        return "order.confirmed", b"\x00{not json", json_props
    if kind == "not-an-envelope":
        return "order.failed", b'{"hello": "chaos"}', json_props
    if kind == "json-array":
        return "shipment.dispatched", b"[1, 2, 3]", json_props
    if kind == "invalid-data":
        envelope = _envelope("order.confirmed", {"order_id": 42, "items": "many"}, event_id=message_id)
        return "order.confirmed", json.dumps(envelope).encode(), _properties(envelope)
    if kind == "unknown-order":
        data = {
            "order_id": f"chaos-no-such-order-{uuid.uuid4()}",
            "shipment_id": str(uuid.uuid4()),
            "dispatched_at": datetime.now(UTC).isoformat(),
        }  # and no email
        envelope = _envelope("shipment.dispatched", data, event_id=message_id)
        return "shipment.dispatched", json.dumps(envelope).encode(), _properties(envelope)
    raise ValueError(kind)


POISON_KINDS = ("not-json", "not-an-envelope", "json-array", "invalid-data", "unknown-order")


def _sent_events(run, database: str, limit: int = 200) -> list[dict]:
    """Events of the run's orders already relayed (their subject is the order id)."""
    ids = [r.order_id for r in run.driver.records if r.order_id]
    if not ids:
        return []
    rows = run.stores.rows(
        database,
        "SELECT envelope FROM outbox WHERE sent_at IS NOT NULL AND envelope->>'subject' = ANY(:ids) "
        "ORDER BY id DESC LIMIT :limit",
        ids=ids,
        limit=limit,
    )
    return [row["envelope"] for row in rows]


def test_duplicates_have_no_second_effect_and_poison_is_dead_lettered(chaos):
    run = chaos("8 duplicate+poison msgs").start()
    expected: dict[str, set[str]] = {spec.dead_letter_name: set() for spec in topology.EVENT_QUEUES.values()}
    number = 0
    run.moment(3, 5)  # some events of the run exist before the first injection
    for _ in range(INJECTIONS):
        run.moment(1, 2.5)
        with run.inject("publish duplicates + poison") as injection:
            order_events = _sent_events(run, "order_service")
            shipment_events = _sent_events(run, "warehouse_service")
            replays = run.rng.sample(order_events, min(3, len(order_events)))
            replays += run.rng.sample(shipment_events, min(2, len(shipment_events)))
            messages = [(e["type"], json.dumps(e).encode(), _properties(e)) for e in replays]
            restated = []  # same data, new event id
            for event in run.rng.sample(replays, min(2, len(replays))):
                fresh = {**event, "id": str(uuid.uuid4())}
                restated.append((fresh["type"], json.dumps(fresh).encode(), _properties(fresh)))
            poison = []
            kinds = run.rng.sample(POISON_KINDS, 2)
            for kind in kinds:
                number += 1
                message = _poison(run.run_id, number, kind)
                poison.append(message)
                for queue in dead_letter_queues(message[0]):
                    expected[queue].add(message[2]["message_id"])
            batch = messages + restated + poison
            run.rng.shuffle(batch)
            faults.publish(batch)
            injection.notes.update(replayed=len(messages), restated=len(restated), poison=kinds)
            injection.notes["flowing_again_s"] = round(run.wait_flowing(), 1)
        if not replays:
            run.problem("nothing-to-duplicate", "no relayed event of the run to re-publish yet")
    run.finish(after_converged=lambda: _check_dead_letters(run, expected))


def _check_dead_letters(run, expected: dict[str, set[str]], timeout: float = 30.0) -> None:
    """Every poison message is in every dead-letter queue it was routed to (poll, deadline).
    The test's own messages are removed from there; nothing else is touched."""
    found: dict[str, set[str]] = {queue: set() for queue in expected}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for queue, ids in expected.items():
            if found[queue] != ids:
                found[queue] |= faults.take_dead_letters(queue, ids - found[queue])
        if found == expected:
            break
        time.sleep(1.0)
    for queue, ids in expected.items():
        for message_id in sorted(ids - found[queue]):
            run.problem("poison-not-dead-lettered", f"{message_id} not in {queue} after {timeout:.0f}s")
    print(f"[chaos]   dead-lettered: { {q: len(ids) for q, ids in found.items()} }")
