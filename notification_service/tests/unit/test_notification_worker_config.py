"""The worker's composition root, built in-process from settings: no connection is made."""

from __future__ import annotations

import smtplib

import pytest

import notification_service.tasks  # noqa: F401 - registers the shared tasks, as the worker's include does
from notification_service import celery_app, handlers
from notification_service.celery_app import RESEND_TASK, SEND_TASK, create_worker
from notification_service.config import Settings
from notification_service.tasks import send_retry_delay

UNREACHABLE = Settings(
    database_url="postgresql+psycopg2://nobody:secret@127.0.0.1:1/notification",
    broker_url="amqp://nobody:secret@127.0.0.1:1/%2F",
    smtp_host="127.0.0.1",
    smtp_port=1,
)


def test_the_worker_wires_queues_schedule_and_consumer_from_its_settings():
    app = create_worker(UNREACHABLE)

    assert {
        "broker_url": app.conf.broker_url,
        "task_default_queue": app.conf.task_default_queue,
        "acks_late": app.conf.task_acks_late,
        "beat": {name: [e["task"], e["schedule"]] for name, e in app.conf.beat_schedule.items()},
        "consumer_steps": sorted(step.__name__ for step in app.steps["consumer"]),
        "tasks_registered": [name in app.tasks for name in (SEND_TASK, RESEND_TASK)],
        "send_max_retries": app.tasks[SEND_TASK].max_retries,
        "engine_made": app.service.engine._value is not None,
        "mailer_made": app.service.mailer._value is not None,
    } == {
        "broker_url": "amqp://nobody:secret@127.0.0.1:1/%2F",
        "task_default_queue": "notification.tasks",
        "acks_late": True,
        "beat": {"resend-pending-notifications": [RESEND_TASK, 10.0]},
        "consumer_steps": ["EventConsumerStep[notification.events]"],
        "tasks_registered": [True, True],
        "send_max_retries": 8,
        "engine_made": False,
        "mailer_made": False,
    }


def test_the_resources_are_sized_and_addressed_from_the_settings_without_connecting():
    service = create_worker(UNREACHABLE).service
    engine, mailer = service.engine(), service.mailer()
    assert engine.pool.size() == 2  # a worker process, not an API
    assert (mailer.host, mailer.port, mailer.sender, mailer.timeout_seconds) == (
        "127.0.0.1",
        1,
        "orders@order-pipeline.local",
        10.0,
    )
    assert service.mailer() is mailer  # one per process: its SMTP connection is reused
    engine.dispose()


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (smtplib.SMTPServerDisconnected("gone"), 9),
        (ConnectionRefusedError("smtp is down"), 9),  # an OSError
        (ValueError("a bug"), 1),  # not retried: the task fails (and is dead-lettered)
    ],
)
def test_a_send_is_retried_on_mail_or_database_trouble_at_most_eight_times(monkeypatch, error, attempts):
    calls: list[list[str]] = []

    def failing_send(*, engine, mailer, notification_ids):
        calls.append(notification_ids)
        raise error

    monkeypatch.setattr(handlers, "send_notifications", failing_send)
    send = create_worker(UNREACHABLE).tasks[SEND_TASK]

    result = send.apply(args=[["n-1"]])  # eagerly: retries run at once, their countdown ignored

    assert result.failed() and isinstance(result.result, type(error))
    assert calls == [["n-1"]] * attempts


def test_the_send_retry_backs_off_exponentially_up_to_a_minute_with_jitter():
    for retries in range(12):
        delays = [send_retry_delay(retries) for _ in range(50)]
        assert all(0 <= delay <= min(60.0, 2.0**retries) for delay in delays)
    assert max(send_retry_delay(10) for _ in range(200)) > 30  # capped at 60, not at 2**10


def test_celery_dash_a_gets_the_app_built_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE.database_url)
    monkeypatch.setenv("BROKER_URL", UNREACHABLE.broker_url)
    monkeypatch.setenv("SMTP_HOST", "smtp.example")
    monkeypatch.setenv("RESEND_EVERY_SECONDS", "30")
    app = celery_app.app
    assert app.conf.beat_schedule["resend-pending-notifications"]["schedule"] == 30.0
    assert app.service.settings.smtp_host == "smtp.example"
    assert celery_app.app is app  # built once
