"""The worker's composition root, imported in a fresh interpreter the way `celery -A` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import json
from notification_service.celery_app import app, mailer
import notification_service.tasks
send = app.tasks["notification_service.tasks.send_notifications"]
print(json.dumps({
    "task_default_queue": app.conf.task_default_queue,
    "beat": {name: [e["task"], e["schedule"], e.get("options", {})]
             for name, e in app.conf.beat_schedule.items()},
    "consumer_steps": sorted(step.__name__ for step in app.steps["consumer"]),
    "send": [send.max_retries, send.retry_backoff, send.retry_backoff_max,
             sorted(error.__name__ for error in send.autoretry_for)],
    "sweeper_registered": "notification_service.tasks.resend_pending_notifications" in app.tasks,
    "smtp": [mailer().host, mailer().port, mailer().sender, mailer().timeout_seconds],
}))
"""


def test_the_worker_module_wires_queues_schedule_and_retries_without_connecting():
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql+psycopg2://nobody:secret@127.0.0.1:1/notification",
        "BROKER_URL": "amqp://nobody:secret@127.0.0.1:1/%2F",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "1",
    }
    env.pop("MAIL_FROM", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "task_default_queue": "notification.tasks",
        "beat": {
            "resend-pending-notifications": [
                "notification_service.tasks.resend_pending_notifications",
                10.0,
                {},
            ]
        },
        "consumer_steps": ["EventConsumerStep[notification.events]"],
        "send": [8, True, 60, ["OSError", "OperationalError", "SMTPException"]],
        "sweeper_registered": True,
        "smtp": ["127.0.0.1", 1, "orders@order-pipeline.local", 10.0],
    }
