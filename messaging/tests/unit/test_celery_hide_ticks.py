"""Periodic tasks' routine lines are dropped; everything else about them, and other tasks, shows."""

import logging

from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

from messaging.celery_settings import BEAT_SENDING, HideTicks

TICK = "warehouse_service.tasks.dispatch_due_shipments"
OTHER = "notification_service.tasks.send_notifications"


def record(msg, args, level=logging.INFO):
    return logging.LogRecord("celery", level, __file__, 1, msg, args, None)


def test_routine_lines_of_periodic_tasks_are_dropped_and_others_kept():
    ticks = HideTicks([TICK])
    kept = {
        (label, name): ticks.filter(record(msg, {"id": "1", "name": name, "runtime": 0.1, "return_value": 0}))
        for label, msg in (("received", LOG_RECEIVED), ("succeeded", LOG_SUCCESS))
        for name in (TICK, OTHER)
    }
    assert kept == {
        ("received", TICK): False,
        ("succeeded", TICK): False,
        ("received", OTHER): True,
        ("succeeded", OTHER): True,
    }
    assert ticks.filter(record(BEAT_SENDING, ("dispatch-due-shipments", TICK))) is False


def test_a_failure_of_a_periodic_task_still_shows():
    ticks = HideTicks([TICK])
    failed = record(
        "Task %(name)s[%(id)s] raised unexpected: %(exc)s", {"name": TICK, "id": "1", "exc": "boom"}
    )
    assert ticks.filter(failed) is True
