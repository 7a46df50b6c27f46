"""A Celery consumer step that reads plain JSON events (not Celery task messages).

The handler runs in the worker's main loop, so it must stay short: one small
transaction (inbox + effect). The message is acked only after that commit; a failed
handler gets the message back after a backoff, and after the queue's delivery limit
RabbitMQ dead-letters it. A message that can never succeed is dead-lettered at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from celery import bootsteps
from kombu import Consumer

from messaging.envelope import Envelope, MalformedEvent, envelope_from_dict, envelope_from_json
from messaging.liveness import touch
from messaging.topology import kombu_dead_letter_queue, kombu_queue

log = logging.getLogger("consumer")
EventHandler = Callable[[Envelope], None]
RetryLater = Callable[[float, Callable[[], None]], None]
LIVENESS_INTERVAL_SECONDS = 10.0


class PoisonEvent(Exception):
    """Raised by a handler for an event that no retry can fix (dead-letter it now)."""


def retry_delay(delivery_count: int) -> float:
    """Exponential backoff: 0.5 s, 1 s, 2 s ... capped at 15 s."""
    return min(15.0, 0.5 * 2**delivery_count)


def deliver(*, body: Any, message: Any, handle: EventHandler, retry_later: RetryLater) -> str:
    """Decode, handle, settle one delivery; returns what was done (for logs and tests)."""
    try:
        envelope = envelope_from_dict(body) if isinstance(body, dict) else envelope_from_json(body)
        handle(envelope)
    except (MalformedEvent, PoisonEvent, KeyError, TypeError, ValueError) as error:
        log.error("dead-lettering message %s: %r", message.properties.get("message_id"), error)
        message.reject(requeue=False)
        return "dead-lettered"
    except Exception as error:  # noqa: BLE001 - anything else may be transient (DB restarting...)
        delivery_count = int((message.headers or {}).get("x-delivery-count", 0))
        delay = retry_delay(delivery_count)
        log.warning("handler failed (%r); redelivery in %.1fs", error, delay)
        retry_later(delay, message.requeue)
        return "retrying"
    message.ack()
    return "acked"


def event_consumer_step(
    *, queue_name: str, handle: EventHandler, prefetch_count: int = 10, liveness_file: str | None = None
) -> type[bootsteps.ConsumerStep]:
    class EventConsumerStep(bootsteps.ConsumerStep):
        def start(self, c):
            self._timer = c.timer
            super().start(c)
            if liveness_file:
                touch(liveness_file)
                self._liveness = c.timer.call_repeatedly(LIVENESS_INTERVAL_SECONDS, touch, (liveness_file,))
            log.info("consuming %s", queue_name)

        def stop(self, c):
            if getattr(self, "_liveness", None) is not None:
                self._liveness.cancel()
                self._liveness = None
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
            deliver(body=body, message=message, handle=handle, retry_later=self._retry_later)

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
