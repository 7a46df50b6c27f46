"""The service kit: settings, backoff, the run loop, per-process resources, problem tables."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from celery import Celery
from celery.worker.consumer import Consumer
from flask import Blueprint
from sqlalchemy.dialects import postgresql

from messaging.backoff import backoff_seconds
from messaging.database import first_unlocked, from_row
from messaging.problems import ProblemType, field_errors
from messaging.runloop import run_until_stopped
from messaging.settings import ConfigurationError, Env, ProcessSettings, Role
from messaging.web import create_api
from messaging.worker import (
    PerProcess,
    WorkerResources,
    create_worker_app,
    periodic_task,
    skip_tick_when_database_down,
)


def test_settings_name_the_variable_that_is_wrong():
    env = Env({"DATABASE_URL": "  ", "WEB_THREADS": "²", "SWEEP": "abc", "FLOW": "async"})
    with pytest.raises(ConfigurationError, match="^DATABASE_URL is required$"):
        env.text("DATABASE_URL")
    with pytest.raises(ConfigurationError, match="^WEB_THREADS must be an integer from 1 to 256, not '²'$"):
        env.integer("WEB_THREADS", 16, minimum=1, maximum=256)
    with pytest.raises(ConfigurationError, match="^SWEEP must be a number from 0 to 60, not 'abc'$"):
        env.seconds("SWEEP", 1.0, maximum=60)
    with pytest.raises(ConfigurationError, match="^FLOW must be one of hybrid, sync, not 'async'$"):
        env.choice("FLOW", "hybrid", choices=("hybrid", "sync"))


def test_settings_take_defaults_for_unset_or_blank_variables():
    env = Env({"DATABASE_URL": "postgresql://db", "WEB_THREADS": "8", "SWEEP": ""})
    assert env.seconds("SWEEP", 1.5) == 1.5
    assert ProcessSettings(**env.process()) == ProcessSettings(database_url="postgresql://db", web_threads=8)


def test_pools_follow_the_role_of_the_process():
    settings = ProcessSettings(database_url="postgresql://db", web_threads=8)
    assert [settings.pool_size(role) for role in (Role.API, Role.WORKER, Role.DAEMON)] == [10, 2, 1]


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens_it():
    assert [backoff_seconds(n, first=0.5, cap=15) for n in range(7)] == [0.5, 1, 2, 4, 8, 15, 15]
    assert backoff_seconds(3, first=1, cap=60, spread=0.5, draw=lambda: 0.999) == pytest.approx(4.004)
    assert backoff_seconds(3, first=1, cap=60, spread=1.0, draw=lambda: 0.0) == 8


def test_the_run_loop_outlives_transient_failures_and_stops_between_units(tmp_path):
    stop, results, slept = threading.Event(), [ConnectionError("db"), ConnectionError("db"), 0.0, 2.5], []
    resets = []

    def unit():
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        if not results:
            stop.set()  # as SIGTERM would, during the last unit: it still finishes
        return result

    stop.wait = slept.append  # record the rests instead of sleeping
    liveness = tmp_path / "alive"
    run_until_stopped(
        unit,
        stop=stop,
        transient=(ConnectionError,),
        backoff=lambda failures: failures * 10.0,
        after_failure=lambda: resets.append(1),
        liveness_file=str(liveness),
    )
    assert (slept, len(resets), liveness.exists()) == ([10.0, 20.0, 2.5], 2, True)


def test_a_bug_is_not_retried():
    with pytest.raises(ZeroDivisionError):
        run_until_stopped(
            lambda: 1 / 0, stop=threading.Event(), transient=(ConnectionError,), backoff=lambda n: 0.0
        )


def test_a_per_process_resource_is_made_once_and_made_again_in_a_forked_child():
    made, forgotten = [], []
    resource = PerProcess(lambda: made.append(1) or len(made), forget=forgotten.append)
    assert (resource(), resource(), made) == (1, 1, [1])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own resource, the parent's forgotten
        os.write(write, f"{resource()},{forgotten}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "2,[1]"
    assert resource() == 1  # the parent keeps its own


class OutOfStock(Exception):
    pass


class OutOfBlueStock(OutOfStock):
    pass


class InvalidThing(ValueError):
    def __init__(self, errors):
        super().__init__("invalid")
        self.errors = errors


def test_a_problem_table_answers_each_exception_with_its_most_specific_entry():
    views = Blueprint("views", __name__)
    raised = {
        "blue": OutOfBlueStock("no blue"),
        "any": OutOfStock("none"),
        "bad": InvalidThing([{"field": "x", "message": "y"}]),
    }

    @views.get("/<name>")
    def fail(name):
        raise raised[name]

    app = create_api(
        __name__,
        settings=ProcessSettings(database_url="postgresql+psycopg2://unused@127.0.0.1:1/db"),
        problems={
            OutOfStock: ProblemType(409, "out-of-stock", "Not enough stock"),
            OutOfBlueStock: ProblemType(409, "out-of-blue", "No blue", detail=False),
            InvalidThing: ProblemType(422, "validation-error", "Invalid", extra=field_errors),
        },
        blueprints=[views],
    )
    client = app.test_client()
    answers = {name: client.get(f"/{name}") for name in raised}
    assert {name: (r.status_code, r.content_type, r.json) for name, r in answers.items()} == {
        "blue": (
            409,
            "application/problem+json",
            {
                "type": "https://order-pipeline.example/problems/out-of-blue",
                "code": "out-of-blue",
                "title": "No blue",
                "status": 409,
            },
        ),
        "any": (
            409,
            "application/problem+json",
            {
                "type": "https://order-pipeline.example/problems/out-of-stock",
                "code": "out-of-stock",
                "title": "Not enough stock",
                "status": 409,
                "detail": "none",
            },
        ),
        "bad": (
            422,
            "application/problem+json",
            {
                "type": "https://order-pipeline.example/problems/validation-error",
                "code": "validation-error",
                "title": "Invalid",
                "status": 422,
                "detail": "invalid",
                "errors": [{"field": "x", "message": "y"}],
            },
        ),
    }


def test_a_periodic_tick_skips_while_the_database_is_down(caplog):
    log = logging.getLogger("tick-test")

    def database_down() -> int:
        raise sa.exc.OperationalError("SELECT", {}, Exception("connection refused"))

    assert skip_tick_when_database_down(lambda: 3, what="sweep", log=log) == 3
    with caplog.at_level(logging.WARNING, logger="tick-test"):
        assert skip_tick_when_database_down(database_down, what="sweep", log=log) == 0
    assert caplog.records[0].getMessage().startswith("sweep skipped, database unavailable: ")
    with pytest.raises(ValueError):
        skip_tick_when_database_down(lambda: int("x"), what="sweep", log=log)


def test_a_periodic_task_hands_the_worker_resources_to_its_tick():
    app = Celery("tick-test", set_as_current=False)
    app.conf.task_always_eager = True
    app.service = {"due": 4}
    periodic_task(name="tick_test.tasks.tick", what="tick", tick=lambda service: service["due"])
    assert app.tasks["tick_test.tasks.tick"].apply().get() == 4


@dataclass(frozen=True)
class Parcel:
    parcel_id: str
    weight: int
    status: str
    note: str | None = None


def test_a_row_becomes_a_value_field_by_field_with_the_converted_ones_given():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT 'p-1' AS id, 3 AS weight, 'sent' AS status, 'x' AS note, 'unused' AS other")
        ).one()
    assert from_row(Parcel, row, parcel_id=row.id, status=row.status.upper()) == Parcel(
        parcel_id="p-1", weight=3, status="SENT", note="x"
    )


def test_first_unlocked_takes_the_first_rows_that_no_one_else_holds():
    jobs = sa.table("jobs", sa.column("id"), sa.column("due"), sa.column("done"))
    query = first_unlocked(jobs.c.id, where=[jobs.c.done.is_(None)], order_by=[jobs.c.due], limit=5)
    sql = " ".join(str(query.compile(dialect=postgresql.dialect())).split())
    assert sql == (
        "SELECT jobs.id FROM jobs WHERE jobs.done IS NULL ORDER BY jobs.due "
        "LIMIT %(param_1)s::INTEGER FOR UPDATE SKIP LOCKED"
    )


def test_worker_resources_are_the_settings_and_an_engine_made_per_process():
    settings = ProcessSettings(database_url="sqlite://")
    made = []
    resources = WorkerResources(settings=settings, engine=PerProcess(lambda: made.append(1) or len(made)))
    assert (resources.settings, resources.engine(), resources.engine(), made) == (settings, 1, 1, [1])


def test_a_worker_consumes_each_of_its_event_queues_with_a_step_of_its_own():
    settings = ProcessSettings(database_url="sqlite://", broker_url="amqp://nobody:secret@127.0.0.1:1/%2F")
    queues = {"order.shipments": lambda envelopes: None, "order.notifications": lambda envelopes: None}
    app = create_worker_app(
        "two-queues", settings=settings, task_queue="order.tasks", include=[], beat_schedule={},
        event_queues=queues,
    )  # fmt: skip
    # Celery's blueprint keeps its steps by name: a name shared by two steps would keep one.
    claimed = Consumer.Blueprint(steps=app.steps["consumer"]).claim_steps()
    assert sorted(name for name in claimed if "EventConsumerStep" in name) == [
        "messaging.consumer.EventConsumerStep[order.notifications]",
        "messaging.consumer.EventConsumerStep[order.shipments]",
    ]
