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
from warehouse_service.celery_app import app
import warehouse_service.tasks
task = app.tasks["warehouse_service.tasks.dispatch_due_shipments"]
print(json.dumps({
    "broker_url": app.conf.broker_url,
    "task_default_queue": app.conf.task_default_queue,
    "acks_late": app.conf.task_acks_late,
    "beat": {name: [e["task"], e["schedule"], e.get("options", {})]
             for name, e in app.conf.beat_schedule.items()},
    "consumer_steps": sorted(step.__name__ for step in app.steps["consumer"]),
    "task": [task.max_retries, task.retry_backoff, [error.__name__ for error in task.autoretry_for]],
}))
"""


def test_the_worker_module_wires_queues_schedule_and_retries_without_connecting():
    # Unreachable servers: importing must still succeed (no connection at import time).
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql+psycopg2://nobody:secret@127.0.0.1:1/warehouse",
        "BROKER_URL": "amqp://nobody:secret@127.0.0.1:1/%2F",
    }
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
    wiring = json.loads(result.stdout.strip().splitlines()[-1])
    assert wiring == {
        "broker_url": "amqp://nobody:secret@127.0.0.1:1/%2F",
        "task_default_queue": "warehouse.tasks",
        "acks_late": True,
        "beat": {"dispatch-due-shipments": ["warehouse_service.tasks.dispatch_due_shipments", 0.25, {}]},
        "consumer_steps": ["EventConsumerStep[warehouse.orders]"],
        "task": [5, True, ["OperationalError"]],
    }
