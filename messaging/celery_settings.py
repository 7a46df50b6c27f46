"""Celery settings that keep work safe; every worker starts from these."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

from messaging.topology import TASKS_EXCHANGE, kombu_queue


def reliable_settings(*, broker_url: str, task_queue: str) -> dict:
    return {
        "broker_url": broker_url,
        # Reconnect forever (Celery gives up after 100 tries by default).
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_heartbeat": 30,
        # Quorum queues need publisher confirms; without them a publish can vanish.
        "broker_transport_options": {"confirm_publish": True},
        # Ack after the task ran; give it back if the process running it dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": False,  # failed task -> rejected -> dead-letter queue
        "worker_prefetch_multiplier": 1,
        # Our tasks are idempotent: let a running one finish when the broker goes away (its ack
        # is lost, the redelivery finds the work done). Cancelling it mid-way, e.g. between an
        # SMTP send and recording it, is what would make a second email.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_queues": [kombu_queue(task_queue)],
        "task_default_queue": task_queue,
        "task_default_exchange": TASKS_EXCHANGE,
        "task_default_exchange_type": "topic",  # retries with countdown need native delayed delivery
        "task_default_routing_key": task_queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_time_limit": 60,
        "task_soft_time_limit": 50,
        # No pidbox/gossip queues: transient non-exclusive queues are deprecated in RabbitMQ 4.
        "worker_enable_remote_control": False,
        "worker_send_task_events": False,
        "worker_hijack_root_logger": False,
    }


# Where Celery says "Scheduler: Sending due task", "Task ... received" and "... succeeded".
ROUTINE_TASK_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")
BEAT_SENDING = "Scheduler: Sending due task %s (%s)"


class HideTicks(logging.Filter):
    """Drops the received / succeeded / sending-due lines of the named (periodic) tasks: at
    several ticks a second they would bury everything else. Their failures still show."""

    def __init__(self, task_names: Iterable[str]) -> None:
        super().__init__()
        self.task_names = frozenset(task_names)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg in (LOG_RECEIVED, LOG_SUCCESS) and isinstance(args, Mapping):  # {"name": task, ...}
            return args.get("name") not in self.task_names
        if record.msg == BEAT_SENDING and isinstance(args, tuple):  # (entry name, task)
            return args[1] not in self.task_names
        return True


def hide_periodic_ticks(beat_schedule: dict) -> None:
    ticks = HideTicks(entry["task"] for entry in beat_schedule.values())
    for name in ROUTINE_TASK_LOGGERS:
        logging.getLogger(name).addFilter(ticks)
