"""The order worker's composition root, built in-process from settings: no connection is made."""

from __future__ import annotations

import order_service.tasks  # noqa: F401 - registers the shared tasks, as the worker's include does
from order_service import celery_app
from order_service.celery_app import create_worker
from order_service.config import Settings

UNREACHABLE = Settings(
    database_url="postgresql+psycopg2://nobody:secret@127.0.0.1:1/order",
    broker_url="amqp://nobody:secret@127.0.0.1:1/%2F",
    sweep_every_seconds=2.0,
    service_token="test-order-service-token",
)


def test_the_worker_wires_queues_schedule_and_consumer_from_its_settings():
    app = create_worker(UNREACHABLE)

    assert {
        "broker_url": app.conf.broker_url,
        "task_default_queue": app.conf.task_default_queue,
        "beat": {name: [e["task"], e["schedule"]] for name, e in app.conf.beat_schedule.items()},
        "consumer_steps": sorted(step.__name__ for step in app.steps["consumer"]),
        "sweeper_registered": "order_service.tasks.recover_orders" in app.tasks,
        "wired": app.service.deps._value is not None,
    } == {
        "broker_url": "amqp://nobody:secret@127.0.0.1:1/%2F",
        "task_default_queue": "order.tasks",
        "beat": {"recover-orders": ["order_service.tasks.recover_orders", 2.0]},
        "consumer_steps": ["EventConsumerStep[order.notifications]", "EventConsumerStep[order.shipments]"],
        "sweeper_registered": True,
        "wired": False,
    }


def test_the_worker_pool_is_sized_for_a_worker_process_not_an_api():
    deps = create_worker(UNREACHABLE).service.deps()
    assert deps.engine.pool.size() == 2  # an API's follows its threads (WEB_THREADS + 2)
    deps.engine.dispose()


def test_celery_dash_a_gets_the_app_built_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE.database_url)
    monkeypatch.setenv("BROKER_URL", UNREACHABLE.broker_url)
    monkeypatch.setenv("SWEEP_EVERY_SECONDS", "3")
    monkeypatch.setenv("ORDER_SERVICE_TOKEN", "env-order")  # the sweeper's calls carry it
    assert celery_app.app.conf.beat_schedule["recover-orders"]["schedule"] == 3.0
