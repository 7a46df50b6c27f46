"""A Celery consumer step that reads plain JSON events (not Celery task messages).

The handler runs in the worker's main loop, so it must stay short. It takes a batch: the
step gathers what arrives within a few milliseconds (up to `batch_size`) and hands it over
at once, and the handler applies it in one transaction (inbox + effect), so a backlog
drains at many events per commit instead of one. Each message is acked only after that
commit. A batch that fails is handled again one event at a time (batches of one), so a
poison event dead-letters only itself, and a failing one gets its message back after a
backoff (after the queue's delivery limit RabbitMQ dead-letters it). A batch that fails
because the database cannot be reached is put back whole: one at a time would only fail
the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from celery import bootsteps
from kombu import Consumer
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from sqlalchemy.exc import InterfaceError, OperationalError

from messaging.backoff import backoff_seconds
from messaging.envelope import Envelope, MalformedEvent, PoisonEvent, envelope_from_dict, envelope_from_json
from messaging.liveness import touch
from messaging.logs import event_ids, log_context
from messaging.metrics import CONSUMER_EVENTS
from messaging.topology import kombu_dead_letter_queue, kombu_queue
from messaging.tracing import TRACEPARENT, event_spans, start_span, tracer

log = logging.getLogger("consumer")
BatchHandler = Callable[[list[Envelope]], None]  # all of them in one transaction, or none
RetryLater = Callable[[float, Callable[[], None]], None]
LIVENESS_INTERVAL_SECONDS = 10.0
BATCH_WAIT_SECONDS = 0.005  # what an event may wait for others to share its transaction
UNDECODABLE = (MalformedEvent, KeyError, TypeError, ValueError)
# deliver_batch's outcomes as the metric's label (pipeline_consumer_events_total{outcome}).
OUTCOME_LABELS = {"acked": "handled", "retrying": "retried", "dead-lettered": "dead_lettered"}
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)


def retry_delay(delivery_count: int) -> float:
    """A failed event's redelivery: 0.5 s, 1 s, 2 s ... capped at 15 s."""
    return backoff_seconds(delivery_count, first=0.5, cap=15.0)


def decode(body: Any) -> Envelope:
    return envelope_from_dict(body) if isinstance(body, dict) else envelope_from_json(body)


def deliver_batch(
    *, deliveries: list[tuple[Any, Any]], handle_batch: BatchHandler, retry_later: RetryLater
) -> list[str]:
    """Decode every (body, message), handle the good ones in one `handle_batch` call and ack
    them after it returns; returns what was done with each, in order (for logs and tests)."""
    outcomes = [""] * len(deliveries)
    decoded: list[tuple[int, Envelope, Any]] = []
    for index, (body, message) in enumerate(deliveries):
        try:
            decoded.append((index, decode(body), message))
        except UNDECODABLE as error:
            outcomes[index] = _dead_letter(message, error)
    _apply(decoded, handle_batch, retry_later, outcomes)
    return outcomes


def _apply(
    decoded: list[tuple[int, Envelope, Any]],
    handle_batch: BatchHandler,
    retry_later: RetryLater,
    outcomes: list[str],
) -> None:
    if not decoded:
        return
    with _traced(decoded):
        _apply_traced(decoded, handle_batch, retry_later, outcomes)


@contextlib.contextmanager
def _traced(decoded: list[tuple[int, Envelope, Any]]) -> Iterator[None]:
    """A CONSUMER span per event, child of its producer's: the relay's span, named by the
    message's `traceparent` header, else (a replayed dead letter, an event published by hand)
    the envelope's own. One event: its span is the current one. A batch, handled in one
    transaction: a batch span, linked to each event's span, is current, and `event_ids(envelope)`
    names the event's own span, so each event's lines carry its order's trace. The spans end
    once the events are acked or given back (a batch retried one by one: after the retries,
    which have spans of their own)."""
    spans = [
        start_span(
            f"consume {envelope.type}",
            traceparent=(message.headers or {}).get(TRACEPARENT) or envelope.traceparent,
            kind=SpanKind.CONSUMER,
        )
        for _, envelope, message in decoded
    ]
    try:
        by_event = {
            envelope.id: span.get_span_context()
            for (_, envelope, _), span in zip(decoded, spans, strict=True)
        }
        with event_spans(by_event):
            if len(spans) == 1:
                with trace.use_span(spans[0], record_exception=False, set_status_on_exception=False):
                    yield
            else:
                links = [Link(span.get_span_context()) for span in spans]
                with tracer.start_as_current_span(f"consume batch of {len(spans)}", links=links):
                    yield
    finally:
        for span in spans:
            span.end()


def _apply_traced(
    decoded: list[tuple[int, Envelope, Any]],
    handle_batch: BatchHandler,
    retry_later: RetryLater,
    outcomes: list[str],
) -> None:
    try:
        if len(decoded) == 1:  # alone (or retried alone): the handler's own lines name it too
            with log_context(**event_ids(decoded[0][1])):
                handle_batch([decoded[0][1]])
        else:
            handle_batch([envelope for _, envelope, _ in decoded])
    except DATABASE_UNREACHABLE as error:
        for index, envelope, message in decoded:
            outcomes[index] = _retry(message, error, retry_later, envelope)
    except Exception as error:  # noqa: BLE001 - find the event that failed it, or let each retry alone
        if len(decoded) == 1:
            index, envelope, message = decoded[0]
            outcomes[index] = _settle_failure(message, error, retry_later, envelope)
            return
        log.info("batch of %d failed (%r); handling its events one by one", len(decoded), error)
        for one in decoded:
            _apply([one], handle_batch, retry_later, outcomes)
    else:
        for index, envelope, message in decoded:
            message.ack()
            outcomes[index] = "acked"
            log.info("consumed %s %s", envelope.type, envelope.id, extra=event_ids(envelope))


def _settle_failure(message: Any, error: Exception, retry_later: RetryLater, envelope: Envelope) -> str:
    trace.get_current_span().set_status(Status(StatusCode.ERROR, repr(error)[:200]))  # the event's own
    if isinstance(error, (PoisonEvent, *UNDECODABLE)):
        return _dead_letter(message, error, event_ids(envelope))
    return _retry(message, error, retry_later, envelope)  # anything else may be transient (DB restarting...)


def _dead_letter(message: Any, error: Exception, ids: dict[str, str] | None = None) -> str:
    message_id = message.properties.get("message_id")
    log.error("dead-lettering message %s: %r", message_id, error, extra=ids or {"event_id": message_id})
    message.reject(requeue=False)
    return "dead-lettered"


def _retry(message: Any, error: Exception, retry_later: RetryLater, envelope: Envelope) -> str:
    delivery_count = int((message.headers or {}).get("x-delivery-count", 0))
    delay = retry_delay(delivery_count)
    log.warning(
        "%s %s failed (%r); redelivery in %.1fs", envelope.type, envelope.id, error, delay,
        extra=event_ids(envelope),
    )  # fmt: skip
    retry_later(delay, message.requeue)
    return "retrying"


def count_outcomes(consumer: str, outcomes: list[str]) -> None:
    """One counter update per kind of outcome in the batch, not one per event."""
    for outcome in set(outcomes):
        label = OUTCOME_LABELS[outcome]
        CONSUMER_EVENTS.labels(consumer=consumer, outcome=label).inc(outcomes.count(outcome))


def event_consumer_step(
    *, queue_name: str, handle_batch: BatchHandler, batch_size: int = 50, liveness_file: str | None = None
) -> type[bootsteps.ConsumerStep]:
    prefetch_count = 2 * batch_size  # keeps the next batch arriving while the last one commits

    class EventConsumerStep(bootsteps.ConsumerStep):
        # Celery keeps a blueprint's steps by name: one per queue, so a worker may have several.
        name = f"{__name__}.EventConsumerStep[{queue_name}]"

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
            self._pending.append((body, message))
            if len(self._pending) >= batch_size:
                self._flush()
            elif self._flush_entry is None:
                self._flush_entry = self._timer.call_after(BATCH_WAIT_SECONDS, self._flush)

        def _flush(self):
            self._cancel_flush()
            deliveries, self._pending = self._pending, []
            if deliveries:
                outcomes = deliver_batch(
                    deliveries=deliveries, handle_batch=handle_batch, retry_later=self._retry_later
                )
                count_outcomes(queue_name, outcomes)

        def _cancel_flush(self):
            if self._flush_entry is not None:
                self._flush_entry.cancel()
                self._flush_entry = None

        def on_decode_error(self, message, error):
            log.error("dead-lettering undecodable message: %r", error)
            message.reject(requeue=False)
            count_outcomes(queue_name, ["dead-lettered"])

        def _retry_later(self, delay: float, requeue: Callable[[], None]) -> None:
            def requeue_if_channel_lives():
                # If the channel is gone, the broker redelivers the message anyway.
                with contextlib.suppress(Exception):
                    requeue()

            self._timer.call_after(delay, requeue_if_channel_lives)

    EventConsumerStep.__name__ = f"EventConsumerStep[{queue_name}]"
    return EventConsumerStep
