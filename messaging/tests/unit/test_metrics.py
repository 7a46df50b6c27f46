"""The metrics kit: request metrics by route template, GET /metrics, scrape-time gauges, the
consumer's outcome counters, and several processes adding up (multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from flask import Blueprint
from prometheus_client import REGISTRY, generate_latest

from messaging.consumer import count_outcomes
from messaging.metrics import ScrapeTimeGauges, exposition_registry
from messaging.settings import ProcessSettings
from messaging.web import create_api

ROOT = Path(__file__).resolve().parents[3]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def app_with_a_route():
    things = Blueprint("things", __name__)

    @things.get("/things/<thing_id>")
    def thing(thing_id: str):
        return {"id": thing_id}

    # The engine connects on first use only: none of these requests needs the database.
    settings = ProcessSettings(database_url="postgresql+psycopg2://nobody@127.0.0.1:1/none")
    return create_api(__name__, settings=settings, problems={}, blueprints=[things]).test_client()


def test_requests_are_counted_by_route_template_and_status_never_by_raw_path():
    client = app_with_a_route()
    count = "pipeline_http_request_duration_seconds_count"
    found = {"method": "GET", "route": "/things/<thing_id>", "status": "200"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    other = {"method": "other", "route": "unmatched", "status": "405"}  # no rule takes BREW
    before = [sample(count, **labels) for labels in (found, unmatched, other)]

    assert client.get("/things/a").status_code == 200
    assert client.get("/things/b").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.open("/things/c", method="BREW").status_code == 405

    after = [sample(count, **labels) for labels in (found, unmatched, other)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]
    assert REGISTRY.get_sample_value(count, {"method": "GET", "route": "/things/a", "status": "200"}) is None


def test_a_request_refused_by_an_earlier_hook_is_counted_too():
    client = app_with_a_route()
    labels = {"method": "GET", "route": "/things/<thing_id>", "status": "422"}
    before = sample("pipeline_http_request_duration_seconds_count", **labels)

    assert client.get("/things/a?x=%00").status_code == 422  # refuse_unstorable_parameters

    assert sample("pipeline_http_request_duration_seconds_count", **labels) == before + 1


def test_get_metrics_answers_the_prometheus_text_format():
    client = app_with_a_route()
    client.get("/things/a")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert 'pipeline_http_request_duration_seconds_bucket{le="0.005",method="GET"' in response.text


def test_scrape_time_gauges_are_read_at_each_scrape_and_a_failed_read_spoils_nothing_else():
    reads = []

    def read():
        reads.append(1)
        if len(reads) == 2:
            raise ConnectionError("database down")
        return {"test_backlog": {("order",): 3.0}}

    gauges = ScrapeTimeGauges(gauges={"test_backlog": ("A backlog", ("service",))}, read=read)
    registry = exposition_registry([gauges])
    assert reads == []  # registering it queried nothing

    assert registry.get_sample_value("test_backlog", {"service": "order"}) == 3.0
    assert registry.get_sample_value("test_backlog", {"service": "order"}) is None  # the failed read
    assert b"python_info" in generate_latest(registry)  # the process's own metrics still came
    assert registry.get_sample_value("test_backlog", {"service": "order"}) == 3.0


def test_the_consumer_counts_each_outcome_by_consumer():
    name = "pipeline_consumer_events_total"
    before = {
        o: sample(name, consumer="test.queue", outcome=o) for o in ("handled", "retried", "dead_lettered")
    }

    count_outcomes("test.queue", ["acked", "acked", "retrying", "dead-lettered", "acked"])

    after = {o: sample(name, consumer="test.queue", outcome=o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {"handled": 3, "retried": 1, "dead_lettered": 1}


def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path):
    """As in a Celery worker: pool children count, the main process serves the sum; a child
    that exits has its live gauge (a breaker's state) dropped."""
    script = textwrap.dedent(
        """
        import os
        from messaging.metrics import BREAKER_STATE, ORDERS, exposition_registry, mark_process_dead

        children = []
        for state in (1, 2):
            pid = os.fork()
            if pid == 0:
                ORDERS.labels(status="CONFIRMED").inc(state)
                BREAKER_STATE.labels(dependency="payment").set(state)
                os._exit(0)
            os.waitpid(pid, 0)
            children.append(pid)
        registry = exposition_registry()
        confirmed = registry.get_sample_value("pipeline_orders_total", {"status": "CONFIRMED"})
        state = registry.get_sample_value("pipeline_breaker_state", {"dependency": "payment"})
        mark_process_dead(children[1])
        after = exposition_registry().get_sample_value("pipeline_breaker_state", {"dependency": "payment"})
        print(confirmed, state, after)
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3.0", "2.0", "1.0"]
