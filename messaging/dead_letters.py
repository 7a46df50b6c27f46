"""A service's dead letters: read them without losing them, and put them back into the queue
they died in (pika; the consumer services' GET and POST /dead-letters, messaging.dead_letter_api).

Reading. The dead-letter queues are quorum queues (topology.DEAD_LETTER_ARGUMENTS), which
cannot be browsed: a message is read only by being delivered. A listing takes up to `limit`
messages with basic.get and no ack, then closes its channel, which puts every one back where
it was. Each return counts as a delivery (x-delivery-count grows by one), and RabbitMQ 4.0
drops a quorum queue's message after 20 of them by default (measured on rabbitmq:4.0); the
dead-letter queues' policy (topology.DEAD_LETTER_POLICY) lifts that limit, so listing can be
repeated forever. Not nack(requeue=True): it counts the same, and a later basic.get on the
channel would hand the same message out again, where a closed channel cannot. While a listing
holds them (milliseconds), a replay does not see those messages.

Replaying. A dead letter is published, confirmed and mandatory, to the `replay` exchange with
its source queue's name as routing key (topology: only that queue is bound with it; the user
may only name its own queues), and acked in the dead-letter queue only once the broker has
confirmed the copy: a crash in between leaves it in both places, which the consumer's inbox
(same message id) makes harmless; it is never lost. Its properties and headers travel with it
but for the broker's death and delivery records (DEATH_HEADERS): the copy is a new message
with a fresh delivery count, which dies again (at the delivery limit) only if its failure does.

What stays dead: a message the consumer rejected (reason `rejected`: not an envelope, or a
poison event, see messaging.consumer: no retry can fix those), anything without a death
record, and any body that is not an event envelope. Replaying them would only dead-letter
them again; the replay of one is refused (NotReplayable), of a queue skips them.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
from pika.exceptions import AMQPError

from messaging.broker import connection_parameters
from messaging.envelope import MalformedEvent, envelope_from_json
from messaging.topology import DEAD_LETTER_SOURCES, REPLAY_EXCHANGE

# What the broker writes on a message it dead-letters or redelivers; a replayed copy drops them.
DEATH_HEADERS = frozenset(
    {
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
# Deaths a retry can cure: the consumer gave up after the delivery limit (or, were they
# configured, a TTL or a length limit). `rejected` is the consumer's verdict that none can.
REPLAYABLE_REASONS = frozenset({"delivery_limit", "expired", "maxlen"})
MAX_SCAN = 10_000  # messages a replay looks through in one call (a deeper queue: call again)


class BrokerUnavailable(Exception):
    """No broker configured, or it cannot be reached or refused the work (503)."""


class DeadLetterNotFound(Exception):
    """No message with this event id in the dead-letter queue (404)."""

    def __init__(self, *, queue: str, event_id: str) -> None:
        super().__init__(f"no dead letter {event_id!r} in {queue}")
        self.queue, self.event_id = queue, event_id


class NotReplayable(Exception):
    """The dead letter would only die again (409); `why` says what it is."""

    def __init__(self, *, event_id: str, why: str) -> None:
        super().__init__(f"{event_id}: {why}")
        self.event_id, self.why = event_id, why


@dataclass(frozen=True)
class Death:
    """What the broker recorded of a message's deaths (its x-death header): the last reason,
    how many times it died in all, and when first."""

    reason: str | None
    count: int
    first_death_at: datetime | None


def death_of(headers: Mapping[str, Any] | None) -> Death:
    """Reads x-death: one entry per (queue, reason), newest first, each with its count and
    the time of its first death. Tolerant: a missing or odd header is no death, not an error."""
    recorded = (headers or {}).get("x-death")
    entries = (
        [entry for entry in recorded if isinstance(entry, Mapping)] if isinstance(recorded, list) else []
    )
    if not entries:
        return Death(reason=None, count=0, first_death_at=None)
    reason = entries[0].get("reason")
    counts = [entry.get("count") for entry in entries]
    times = [moment for entry in entries if (moment := _moment(entry.get("time"))) is not None]
    return Death(
        reason=reason if isinstance(reason, str) else None,
        count=sum(count for count in counts if isinstance(count, int) and not isinstance(count, bool)),
        first_death_at=min(times, default=None),
    )


def _moment(value: Any) -> datetime | None:
    """An AMQP timestamp as pika gives it (a datetime), or seconds since the epoch."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError, OSError, ValueError):
            return datetime.fromtimestamp(value, UTC)
    return None


def why_not_replayable(death: Death, body: bytes) -> str | None:
    """None when a replay may cure the message; else why it stays dead."""
    if death.reason is None:
        return "no death record: it did not die in its queue"
    if death.reason not in REPLAYABLE_REASONS:
        return f"its consumer {death.reason} it: no retry can fix it"
    try:
        envelope_from_json(body)
    except (MalformedEvent, OverflowError, RecursionError, ValueError) as error:
        return f"not an event envelope ({str(error)[:200]})"
    return None


@dataclass(frozen=True)
class DeadLetter:
    queue: str  # the dead-letter queue
    source_queue: str  # where a replay sends it
    event_id: str | None  # the AMQP message id (the envelope's id)
    type: str | None
    death: Death
    body: Any  # the JSON value, or the text when the body is not JSON
    not_replayable: str | None  # why it stays dead; None: replayable

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "source_queue": self.source_queue,
            "event_id": self.event_id,
            "type": self.type,
            "reason": self.death.reason,
            "death_count": self.death.count,
            "first_death_at": None
            if self.death.first_death_at is None
            else self.death.first_death_at.isoformat(),
            "replayable": self.not_replayable is None,
            "not_replayable_because": self.not_replayable,
            "body": self.body,
        }


def dead_letter(queue: str, properties: Any, body: bytes) -> DeadLetter:
    """A message got from dead-letter queue `queue`, as the API shows it."""
    death = death_of(properties.headers)
    return DeadLetter(
        queue=queue,
        source_queue=DEAD_LETTER_SOURCES[queue].name,
        event_id=properties.message_id,
        type=properties.type,
        death=death,
        body=_readable(body),
        not_replayable=why_not_replayable(death, body),
    )


def _readable(body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


@dataclass(frozen=True)
class Replay:
    """What a replay did: the event ids sent back, the letters left dead and why."""

    queue: str
    replayed: list[str]
    kept: list[DeadLetter]

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "source_queue": DEAD_LETTER_SOURCES[self.queue].name,
            "replayed": self.replayed,
            "kept": [{"event_id": kept.event_id, "why": kept.not_replayable} for kept in self.kept],
        }


def list_dead_letters(url: str, queues: tuple[str, ...], *, limit: int) -> list[DeadLetter]:
    """Up to `limit` messages of `queues`, in queue order, each left where it was."""
    found: list[DeadLetter] = []
    with _channel(url) as channel:
        for queue in queues:
            for _, properties, body in _take(channel, queue, most=limit - len(found)):
                found.append(dead_letter(queue, properties, body))
    return found  # closing the channel returned every one


def replay_event(url: str, queue: str, event_id: str) -> Replay:
    """Sends the dead letter(s) of this event id back to their queue; DeadLetterNotFound when
    there is none, NotReplayable when none may go back."""
    with _channel(url) as channel:
        channel.confirm_delivery()
        refused = []
        replayed = []
        for method, properties, body in _take(channel, queue, most=MAX_SCAN):
            if properties.message_id != event_id:
                continue
            letter = dead_letter(queue, properties, body)
            if letter.not_replayable:
                refused.append(letter)
            else:  # every copy: the consumer's inbox handles the event once
                _send_back(channel, queue, method, properties, body)
                replayed.append(event_id)
    if replayed:
        return Replay(queue=queue, replayed=replayed, kept=refused)
    if refused:
        raise NotReplayable(event_id=event_id, why=refused[0].not_replayable or "")
    raise DeadLetterNotFound(queue=queue, event_id=event_id)


def replay_queue(url: str, queue: str) -> Replay:
    """Sends every replayable dead letter of `queue` back (up to MAX_SCAN), skipping the others.
    Each message is looked at once: what it takes stays on this channel until the end, and
    what it sends back goes to another queue, so nothing can come round again."""
    with _channel(url) as channel:
        channel.confirm_delivery()
        kept = []
        replayed = []
        for method, properties, body in _take(channel, queue, most=MAX_SCAN):
            letter = dead_letter(queue, properties, body)
            if letter.not_replayable:
                kept.append(letter)
            else:
                _send_back(channel, queue, method, properties, body)
                replayed.append(letter.event_id or "")
    return Replay(queue=queue, replayed=replayed, kept=kept)


def _take(channel: Any, queue: str, *, most: int) -> Iterator[tuple[Any, Any, bytes]]:
    """Up to `most` messages got without an ack; they stay with this channel until acked or
    until it closes (then back to the queue), so none is got twice."""
    for _ in range(max(most, 0)):
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return
        yield method, properties, body


def _send_back(channel: Any, queue: str, method: Any, properties: Any, body: bytes) -> None:
    """Publish (confirmed; raises unless routed and taken) then ack: never the other way round."""
    fresh = copy.copy(properties)
    fresh.headers = {k: v for k, v in (properties.headers or {}).items() if k not in DEATH_HEADERS}
    channel.basic_publish(
        exchange=REPLAY_EXCHANGE,
        routing_key=DEAD_LETTER_SOURCES[queue].name,
        body=body,
        properties=fresh,
        mandatory=True,
    )
    channel.basic_ack(method.delivery_tag)


@contextlib.contextmanager
def _channel(url: str) -> Iterator[Any]:
    """A channel on a connection of its own, closed at the end (which returns every message got
    and not acked). Any broker failure is BrokerUnavailable."""
    if not url:
        raise BrokerUnavailable("this process has no BROKER_URL")
    try:
        connection = pika.BlockingConnection(connection_parameters(url))
    except (AMQPError, OSError) as error:
        raise BrokerUnavailable(f"cannot connect: {error!r}"[:300]) from error
    try:
        yield connection.channel()
    except (AMQPError, OSError) as error:
        raise BrokerUnavailable(f"{type(error).__name__}: {error}"[:300]) from error
    finally:
        with contextlib.suppress(AMQPError, OSError):
            if connection.is_open:
                connection.close()
