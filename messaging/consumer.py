"""A Celery consumer step that reads plain JSON events (not Celery task messages).

The handler runs in the worker's main loop, so it must stay short: one small
transaction (inbox + effect). The message is acked only after that commit; a failed
handler gets the message back after a backoff, and after the queue's delivery limit
RabbitMQ dead-letters it. A message that can never succeed is dead-lettered at once.

With a batch handler, the step gathers what arrives within a few milliseconds (up to
`batch_size`) and handles it in one transaction: a backlog drains at many events per
commit instead of one. A batch that fails is handled again one event at a time, so a
poison event dead-letters only itself; a batch that fails because the database cannot
be reached is put back whole, since one at a time would only fail the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from celery import bootsteps
from kombu import Consumer
from sqlalchemy.exc import InterfaceError, OperationalError

from messaging.envelope import Envelope, MalformedEvent, envelope_from_dict, envelope_from_json
from messaging.liveness import touch
from messaging.topology import kombu_dead_letter_queue, kombu_queue

log = logging.getLogger("consumer")
EventHandler = Callable[[Envelope], None]
BatchHandler = Callable[[list[Envelope]], None]  # all of them in one transaction, or none
RetryLater = Callable[[float, Callable[[], None]], None]
LIVENESS_INTERVAL_SECONDS = 10.0
BATCH_WAIT_SECONDS = 0.005  # what an event may wait for others to share its transaction
UNDECODABLE = (MalformedEvent, KeyError, TypeError, ValueError)
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)


class PoisonEvent(Exception):
    """Raised by a handler for an event that no retry can fix (dead-letter it now)."""


def retry_delay(delivery_count: int) -> float:
    """Exponential backoff: 0.5 s, 1 s, 2 s ... capped at 15 s."""
    return min(15.0, 0.5 * 2**delivery_count)


def decode(body: Any) -> Envelope:
    return envelope_from_dict(body) if isinstance(body, dict) else envelope_from_json(body)


def deliver(*, body: Any, message: Any, handle: EventHandler, retry_later: RetryLater) -> str:
    """Decode, handle, settle one delivery; returns what was done (for logs and tests)."""
    try:
        envelope = decode(body)
    except UNDECODABLE as error:
        return _dead_letter(message, error)
    return _handle_one(envelope, message, handle, retry_later)


def deliver_batch(
    *,
    deliveries: list[tuple[Any, Any]],
    handle: EventHandler,
    handle_batch: BatchHandler,
    retry_later: RetryLater,
) -> list[str]:
    """Decode every (body, message), handle the good ones in one `handle_batch` call and ack
    them after it returns; returns what was done with each, in order."""
    outcomes = [""] * len(deliveries)
    decoded: list[tuple[int, Envelope, Any]] = []
    for index, (body, message) in enumerate(deliveries):
        try:
            decoded.append((index, decode(body), message))
        except UNDECODABLE as error:
            outcomes[index] = _dead_letter(message, error)
    try:
        if decoded:
            handle_batch([envelope for _, envelope, _ in decoded])
    except DATABASE_UNREACHABLE as error:
        for index, _, message in decoded:
            outcomes[index] = _retry(message, error, retry_later)
    except Exception as error:  # noqa: BLE001 - find the event that failed it, or let each retry alone
        log.info("batch of %d failed (%r); handling its events one by one", len(decoded), error)
        for index, envelope, message in decoded:
            outcomes[index] = _handle_one(envelope, message, handle, retry_later)
    else:
        for index, _, message in decoded:
            message.ack()
            outcomes[index] = "acked"
    return outcomes


def _handle_one(envelope: Envelope, message: Any, handle: EventHandler, retry_later: RetryLater) -> str:
    try:
        handle(envelope)
    except (PoisonEvent, *UNDECODABLE) as error:
        return _dead_letter(message, error)
    except Exception as error:  # noqa: BLE001 - anything else may be transient (DB restarting...)
        return _retry(message, error, retry_later)
    message.ack()
    return "acked"


def _dead_letter(message: Any, error: Exception) -> str:
    log.error("dead-lettering message %s: %r", message.properties.get("message_id"), error)
    message.reject(requeue=False)
    return "dead-lettered"


def _retry(message: Any, error: Exception, retry_later: RetryLater) -> str:
    delivery_count = int((message.headers or {}).get("x-delivery-count", 0))
    delay = retry_delay(delivery_count)
    log.warning("handler failed (%r); redelivery in %.1fs", error, delay)
    retry_later(delay, message.requeue)
    return "retrying"


def event_consumer_step(
    *,
    queue_name: str,
    handle: EventHandler,
    handle_batch: BatchHandler | None = None,
    batch_size: int = 50,
    liveness_file: str | None = None,
) -> type[bootsteps.ConsumerStep]:
    # Without a batch handler, one event at a time; with one, the prefetch keeps a batch
    # arriving while the last one commits.
    prefetch_count = 2 * batch_size if handle_batch else 10

    class EventConsumerStep(bootsteps.ConsumerStep):
        def start(self, c):
            self._timer = c.timer
            self._pending: list[tuple[Any, Any]] = []
            self._flush_entry = None
            super().start(c)
            if liveness_file:
                touch(liveness_file)
                self._liveness = c.timer.call_repeatedly(LIVENESS_INTERVAL_SECONDS, touch, (liveness_file,))
            log.info("consuming %s", queue_name)

        def stop(self, c):
            if getattr(self, "_liveness", None) is not None:
                self._liveness.cancel()
                self._liveness = None
            # Unacked deliveries die with their channel; the broker redelivers them.
            self._cancel_flush()
            self._pending = []
            super().stop(c)

        def get_consumers(self, channel):
            kombu_dead_letter_queue(queue_name)(channel).declare()
            return [
                Consumer(
                    channel,
                    queues=[kombu_queue(queue_name)],
                    callbacks=[self.on_message],
                    accept=["json"],
                    prefetch_count=prefetch_count,
                    on_decode_error=self.on_decode_error,
                )
            ]

        def on_message(self, body, message):
            if handle_batch is None:
                deliver(body=body, message=message, handle=handle, retry_later=self._retry_later)
                return
            self._pending.append((body, message))
            if len(self._pending) >= batch_size:
                self._flush()
            elif self._flush_entry is None:
                self._flush_entry = self._timer.call_after(BATCH_WAIT_SECONDS, self._flush)

        def _flush(self):
            self._cancel_flush()
            deliveries, self._pending = self._pending, []
            if deliveries:
                deliver_batch(
                    deliveries=deliveries,
                    handle=handle,
                    handle_batch=handle_batch,
                    retry_later=self._retry_later,
                )

        def _cancel_flush(self):
            if self._flush_entry is not None:
                self._flush_entry.cancel()
                self._flush_entry = None

        def on_decode_error(self, message, error):
            log.error("dead-lettering undecodable message: %r", error)
            message.reject(requeue=False)

        def _retry_later(self, delay: float, requeue: Callable[[], None]) -> None:
            def requeue_if_channel_lives():
                # If the channel is gone, the broker redelivers the message anyway.
                with contextlib.suppress(Exception):
                    requeue()

            self._timer.call_after(delay, requeue_if_channel_lives)

    EventConsumerStep.__name__ = f"EventConsumerStep[{queue_name}]"
    return EventConsumerStep
