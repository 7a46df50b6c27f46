"""One trace per order on the stack: the trace id POST /orders answers (in its `traceparent`
header, continuing the client's) is in the JSON log lines of every process the order goes
through, in the journal's entry of each of its events, and in each email's header."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import requests

from e2e_tests.stack import ORDER_PROCESSES as PROCESSES
from e2e_tests.stack import URLS, containers, emails_to, get_json, new_sku, order, order_body, sent_kinds
from testsupport.polling import wait_until

EVENTUAL = 60  # seconds: dispatch after 2 s, two hops of events, the index, the emails


def trace_ids_in_logs(service: str, *, since: datetime) -> set[str]:
    ids = set()
    for container in containers(service):
        for line in container.logs(since=since, timestamps=False).decode(errors="replace").splitlines():
            try:
                fields = json.loads(line)
            except ValueError:
                continue  # a non-JSON line (none expected), not this test's business
            if isinstance(fields, dict) and fields.get("trace_id"):
                ids.add(fields["trace_id"])
    return ids


def journal_of(order_id: str) -> list[dict]:
    return get_json(f"{URLS.order}/orders/{order_id}/journal")["events"]


def processes_without(trace_id: str, *, since: datetime) -> list[str]:
    return [service for service in PROCESSES if trace_id not in trace_ids_in_logs(service, since=since)]


def test_an_orders_trace_id_is_in_every_process_its_journal_and_its_emails():
    since = datetime.now(UTC) - timedelta(seconds=2)  # the containers' clocks are the host's
    client_trace = uuid.uuid4().hex
    body = order_body(sku=new_sku(available=5))
    response = requests.post(
        f"{URLS.order}/orders",
        json=body,
        headers={"Idempotency-Key": str(uuid.uuid4()), "traceparent": f"00-{client_trace}-{'1' * 16}-01"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    trace_id = response.headers["traceparent"].split("-")[1]
    assert trace_id == client_trace  # a client that sent one gets its own trace id back
    order_id = response.json()["id"]
    wait_until(lambda: order(order_id)["status"] == "SHIPPED", timeout=EVENTUAL, what="order SHIPPED")
    wait_until(lambda: sent_kinds(order_id) == ["order_confirmed", "order_shipped"], timeout=EVENTUAL,
               what="both emails sent")  # fmt: skip

    # Its events, but its steps (order.step: one per transition and per email, kept too).
    journal = wait_until(
        lambda: len(events := [e for e in journal_of(order_id) if e["type"] != "order.step"]) == 4 and events,
        timeout=EVENTUAL,
        what="its four events in the journal",
    )
    assert sorted((e["type"], e["trace_id"]) for e in journal) == [
        ("notification.sent", trace_id),
        ("notification.sent", trace_id),
        ("order.confirmed", trace_id),
        ("shipment.dispatched", trace_id),
    ]
    wait_until(
        lambda: not processes_without(trace_id, since=since),
        timeout=EVENTUAL,
        what=f"trace {trace_id} in the logs of {', '.join(PROCESSES)}",
    )
    mails = emails_to(body["email"])
    assert len(mails) == 2
    # MailDev lists each email's headers by their lower-cased names.
    assert {mail["headers"]["traceparent"].split("-")[1] for mail in mails} == {trace_id}
