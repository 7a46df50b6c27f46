"""Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, one trace across
processes, correctly parented: an API request, the relay's publish of the event it wrote,
a consumer's handling of it. Each hop runs in a process of its own, configured as the
process starts (messaging.tracing.configure_tracing), against the test receiver; the
traceparent travels between them as it does in the stack (HTTP header, envelope, AMQP
header). No broker or database: what is under test is the tracing, not the transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testsupport.otlp import OtlpReceiver
from testsupport.polling import wait_until

ROOT = Path(__file__).resolve().parents[3]
CLIENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SERVER, PRODUCER, CONSUMER = 2, 4, 5  # the proto's span kinds


def hop(step: str, traceparent: str) -> None:
    """One process's part (run by `python -c`): prints the traceparent the next hop gets."""
    import sqlalchemy as sa
    from flask import Blueprint

    from messaging.consumer import deliver_batch
    from messaging.envelope import envelope_from_json, new_event
    from messaging.outbox import Outbox, outbox_table
    from messaging.relay import OutboxRelay
    from messaging.settings import ProcessSettings
    from messaging.tracing import configure_tracing
    from messaging.web import create_api

    configure_tracing(os.environ["PROCESS_NAME"])
    if step == "api":  # POST /orders: the event it writes to the outbox gets the request's span
        views, rows = Blueprint("views", __name__), []
        outbox = Outbox(outbox_table(sa.MetaData()))
        recorder = type("Connection", (), {"execute": lambda self, statement, *_: rows.append(statement)})()

        @views.post("/orders")
        def place():
            event = new_event(type="order.confirmed", source="order_service", data={"order_id": "o1"})
            outbox.add(recorder, event)  # the row's envelope: stamped with the current span's traceparent
            return {}

        settings = ProcessSettings(database_url="postgresql+psycopg2://u@127.0.0.1:1/d")
        app = create_api(__name__, settings=settings, problems={}, blueprints=[views])
        app.test_client().post("/orders", headers={"traceparent": traceparent})
        # The insert's one row: its envelope is the statement's one dict parameter.
        print(json.dumps(next(v for v in rows[0].compile().params.values() if isinstance(v, dict))))
    elif step == "relay":  # the outbox row's envelope is on stdin; the AMQP header goes out
        sent = []
        relay = OutboxRelay(engine=None, outbox=None, broker_url="amqp://unused")
        relay._publisher = type(
            "P", (), {"publish": lambda self, e, traceparent=None: sent.append(traceparent)}
        )()
        relay._publish(envelope_from_json(sys.stdin.read()))
        print(sent[0])
    else:  # the consumer: the message's header
        message = type("M", (), {"headers": {"traceparent": traceparent}, "ack": lambda self: None})()
        envelope = new_event(type="order.confirmed", source="order_service", data={"order_id": "o1"})
        deliver_batch(
            deliveries=[(envelope.to_dict(), message)], handle_batch=lambda _: None, retry_later=None
        )


def run_hop(step: str, process: str, port: int, *, traceparent: str = "", stdin: str = "") -> str:
    env = {**os.environ, "PROCESS_NAME": process, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
    code = f"from messaging.tests.integration.test_trace_export import hop; hop({step!r}, {traceparent!r})"
    done = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().rpartition("\n")[2]  # the last line: what the next hop gets


def test_one_trace_across_an_api_a_relay_and_a_consumer_is_exported_correctly_parented():
    with OtlpReceiver().running() as receiver:
        envelope = run_hop("api", "order-api", receiver.port, traceparent=CLIENT)
        header = run_hop("relay", "order-relay", receiver.port, stdin=envelope)
        run_hop("consumer", "warehouse-worker", receiver.port, traceparent=header)

        trace_id = CLIENT.split("-")[1]
        spans = wait_until(lambda: (found := receiver.trace(trace_id)) and len(found) >= 3 and found,
                           timeout=10, what="three spans of the trace")  # fmt: skip

    by_service = {span.service: span for span in spans}
    api, relay, consumer = by_service["order-api"], by_service["order-relay"], by_service["warehouse-worker"]
    assert (api.name, api.kind, api.parent_span_id) == ("POST /orders", SERVER, CLIENT.split("-")[2])
    assert (relay.kind, relay.parent_span_id) == (PRODUCER, api.span_id)
    assert (consumer.kind, consumer.parent_span_id) == (CONSUMER, relay.span_id)
    assert len(spans) == 3
