"""The worker's composition root, built in-process from settings: no connection is made."""

from __future__ import annotations

import warehouse_service.tasks  # noqa: F401 - registers the shared tasks, as the worker's include does
from warehouse_service import celery_app
from warehouse_service.celery_app import create_worker
from warehouse_service.config import Settings

UNREACHABLE = Settings(
    database_url="postgresql+psycopg2://nobody:secret@127.0.0.1:1/warehouse",
    broker_url="amqp://nobody:secret@127.0.0.1:1/%2F",
)


def test_the_worker_wires_queues_schedule_and_consumer_from_its_settings():
    app = create_worker(UNREACHABLE)

    assert {
        "broker_url": app.conf.broker_url,
        "task_default_queue": app.conf.task_default_queue,
        "acks_late": app.conf.task_acks_late,
        "beat": {name: [e["task"], e["schedule"]] for name, e in app.conf.beat_schedule.items()},
        "consumer_steps": sorted(step.__name__ for step in app.steps["consumer"]),
        "dispatch_registered": "warehouse_service.tasks.dispatch_due_shipments" in app.tasks,
        "engine_made": app.service.engine._value is not None,
    } == {
        "broker_url": "amqp://nobody:secret@127.0.0.1:1/%2F",
        "task_default_queue": "warehouse.tasks",
        "acks_late": True,
        "beat": {"dispatch-due-shipments": ["warehouse_service.tasks.dispatch_due_shipments", 0.25]},
        "consumer_steps": ["EventConsumerStep[warehouse.orders]"],
        "dispatch_registered": True,
        "engine_made": False,
    }


def test_the_engine_is_sized_for_a_worker_process_not_an_api():
    engine = create_worker(UNREACHABLE).service.engine()
    assert engine.pool.size() == 2
    engine.dispose()


def test_celery_dash_a_gets_the_app_built_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE.database_url)
    monkeypatch.setenv("BROKER_URL", UNREACHABLE.broker_url)
    monkeypatch.setenv("DISPATCH_EVERY_SECONDS", "0.5")
    app = celery_app.app
    assert app.conf.beat_schedule["dispatch-due-shipments"]["schedule"] == 0.5
    assert celery_app.app is app  # built once
